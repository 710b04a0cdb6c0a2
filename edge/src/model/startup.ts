/**
 * The isolate's start-up (issue #29): ORT's init, the default release's session of every embedded model and its
 * warm-up run, done once in the Worker's global scope (edge/src/index.ts awaits it at top level) instead of on the
 * first request. About 80% of a cold first prediction was V8 compiling ORT's wasm functions lazily on first call
 * (FACTS.md); here that CPU is spent in the start-up budget (1 s of CPU, checked at deploy) and the first request
 * finds the sessions ready. Other versions (older embedded ones, registry versions) stay lazy.
 *
 * Only what the global scope allows runs here: no timers, no I/O, no random values. ORT 1.30's init and a session's
 * creation settle within microtasks in workerd; the artifacts' sha256 is WebCrypto's digest (no I/O). A failure is
 * logged and left to loadEdgeModel's retry (its backoff): the Worker still starts, and requests load lazily as before.
 */
import { sortReleases } from '../../../shared/manifest/index.ts';
import { type EdgeRelease, loadEdgeModel } from './edge-model.ts';

/**
 * What the start-up did: the releases it loaded and those that failed. No duration: workerd's clocks do not advance
 * in the global scope (they move only with I/O), so bench:edge measures the start-up as workerd's CPU time instead.
 */
export interface StartupReport {
  loaded: string[];
  failed: string[];
}

/** The release each model answers with by default: its latest embedded one (the rule of releaseFor). */
export function defaultReleases(releases: readonly EdgeRelease[]): EdgeRelease[] {
  const byModel = new Map<string, EdgeRelease[]>();
  for (const r of releases) byModel.set(r.manifest.name, [...(byModel.get(r.manifest.name) ?? []), r]);
  return [...byModel.values()].map((mine) => sortReleases(mine).at(-1) as EdgeRelease);
}

/** Loads (session + warm-up run) the default release of every embedded model; never throws. */
export async function warmDefaultReleases(releases: readonly EdgeRelease[]): Promise<StartupReport> {
  const defaults = defaultReleases(releases);
  const results = await Promise.allSettled(defaults.map((r) => loadEdgeModel(r)));
  const name = (r: EdgeRelease) => `${r.manifest.name}@${r.manifest.version}`;
  return {
    loaded: defaults.filter((_, i) => results[i]?.status === 'fulfilled').map(name),
    failed: defaults.filter((_, i) => results[i]?.status === 'rejected').map(name),
  };
}
