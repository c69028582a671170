import type { AppContext } from '../../context.js';
import { healthOf } from '../../ops/health.js';
import { json, type Route } from '../http.js';

/**
 * GET /livez: 200 while the process answers. GET /healthz: 200 when casegate is healthy
 * (src/ops/health.ts), else 503.
 *
 * With details (the ops listener, 127.0.0.1 by default) the body lists every check and its
 * reason: {"status":"ok"|"unhealthy","checks":[{"name","ok","detail"}]}. Without (the customer web
 * server, which may sit behind a public reverse proxy) only {"status"}: mailbox names and relay
 * errors stay private.
 */
export function healthRoutes(ctx: AppContext, opts: { readonly details: boolean } = { details: false }): Route[] {
  return [
    {
      method: 'GET',
      name: 'healthz',
      quiet: true,
      pattern: /^\/healthz$/,
      async handler() {
        const health = await healthOf(ctx);
        const status = health.healthy ? 'ok' : 'unhealthy';
        return json(health.healthy ? 200 : 503, opts.details ? { status, checks: health.checks } : { status });
      },
    },
    {
      // Liveness (a Kubernetes livenessProbe, a watchdog): 200 as long as the process answers. It
      // asks nothing else: a restart heals no mailbox server, relay or database, and /healthz is
      // 503 for those (readiness, alerting).
      method: 'GET',
      name: 'livez',
      quiet: true,
      pattern: /^\/livez$/,
      handler() {
        return Promise.resolve(json(200, { status: 'alive' }));
      },
    },
  ];
}
