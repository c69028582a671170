import type { AppContext } from '../../context.js';
import type { LiveState, Metrics } from '../../ops/metrics.js';
import type { Route } from '../http.js';

/** GET /metrics: Prometheus text exposition (src/ops/metrics.ts). Served by the ops listener only. */
export function metricsRoutes(ctx: AppContext, metrics: Metrics, live: LiveState): Route[] {
  return [
    {
      method: 'GET',
      name: 'metrics',
      quiet: true,
      pattern: /^\/metrics$/,
      async handler() {
        return { status: 200, headers: { 'Content-Type': metrics.contentType }, body: await metrics.render(ctx, live) };
      },
    },
  ];
}
