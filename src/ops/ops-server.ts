import type { AppContext } from '../context.js';
import { isLoopback } from '../config/schema.js';
import { startWebServer, type WebServer } from '../web/server.js';
import { healthRoutes } from '../web/routes/health.js';
import { metricsRoutes } from '../web/routes/metrics.js';
import type { LiveState, Metrics } from './metrics.js';

/**
 * The ops listener (ops.host:ops.port, 127.0.0.1 by default): /healthz with every check and its
 * reason, and /metrics. The same small server as the customer pages (web/server.ts), on its own
 * socket, so monitoring works whether or not web.enabled is on and /metrics never sits behind the
 * public reverse proxy of the customer pages. On a loopback address it answers only requests for
 * localhost, 127.0.0.1 or [::1] (web/server.ts: a browser page on this host using a name of its own
 * that resolves to 127.0.0.1 — DNS rebinding — gets 403).
 */
export function startOpsServer(ctx: AppContext, metrics: Metrics, live: LiveState): Promise<WebServer> {
  return startWebServer(ctx, [...healthRoutes(ctx, { details: true }), ...metricsRoutes(ctx, metrics, live)], { host: ctx.config.ops.host, port: ctx.config.ops.port, component: 'ops', loopbackHostOnly: isLoopback(ctx.config.ops.host) });
}
