import { sql } from 'kysely';
import type { AppContext } from '../../context.js';
import { json, type Route } from '../http.js';

/** GET /healthz: 200 {"status":"ok"} when the database answers, else 503. (More details: issue 13.) */
export function healthRoutes(ctx: AppContext): Route[] {
  return [
    {
      method: 'GET',
      name: 'healthz',
      pattern: /^\/healthz$/,
      async handler() {
        try {
          await sql`select 1`.execute(ctx.db);
          return json(200, { status: 'ok', database: 'ok' });
        } catch (err) {
          return json(503, { status: 'error', database: err instanceof Error ? err.message : String(err) });
        }
      },
    },
  ];
}
