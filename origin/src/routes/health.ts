/** OIP v2 server health: GET /v2/health/live (the process answers) and /v2/health/ready (models up, not draining). */
import type { Context } from 'hono';
import type { AppEnv } from '../env.ts';
import type { RouteDeps } from './deps.ts';

export function liveHandler(c: Context<AppEnv>): Response {
  return c.json({ live: true });
}

export function readyHandler(deps: Pick<RouteDeps, 'ready'>) {
  return function ready(c: Context<AppEnv>): Response {
    const isReady = deps.ready();
    return c.json({ ready: isReady }, isReady ? 200 : 503);
  };
}
