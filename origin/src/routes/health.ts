/**
 * OIP v2 server health: GET /v2/health/live (the process can serve: no model has lost every worker for good, which
 * only a restart mends) and /v2/health/ready (models up, not draining).
 */
import type { Context } from 'hono';
import type { AppEnv } from '../env.ts';
import type { RouteDeps } from './deps.ts';

export function liveHandler(deps: Pick<RouteDeps, 'unserviceable'>) {
  return function live(c: Context<AppEnv>): Response {
    const unserviceable = deps.unserviceable();
    return unserviceable.length === 0 ? c.json({ live: true }) : c.json({ live: false, unserviceable }, 503);
  };
}

export function readyHandler(deps: Pick<RouteDeps, 'ready'>) {
  return function ready(c: Context<AppEnv>): Response {
    const isReady = deps.ready();
    return c.json({ ready: isReady }, isReady ? 200 : 503);
  };
}
