/**
 * What the admin CLIs (npm run drift, npm run rollout, npm run keys) share: `--name value` arguments, the edge to
 * ask and the admin key (`--url`/`--key`, else EDGE_URL/EDGE_ADMIN_KEY, else the stack `npm start` is running:
 * .wrangler/local-stack.json), the typed client of the edge's API for it (client/: `unwrap` throws an ApiError with
 * the edge's status, code and message on a refusal), and a plain text table.
 */
import { existsSync, readFileSync } from 'node:fs';
import { type ClientOptions, createEdgeClient, type EdgeClient, unwrap } from '../client/src/index.ts';
import { LOCAL_STACK_FILE } from './local-stack-file.ts';

export function arg(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/**
 * The edge URL and admin key to use, each from the first that has it: `--url`/`--key` in `argv`, then the env
 * variables EDGE_URL/EDGE_ADMIN_KEY (what a scheduled runner such as infra/k8s/components/retrain gets from a
 * Secret: a key on a command line shows in `ps`), then the local stack file. Throws naming all three ways.
 */
export function adminTarget(
  argv: readonly string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
  stackFile: string = LOCAL_STACK_FILE,
): AdminTarget {
  let url = arg('url', argv) ?? nonEmpty(env.EDGE_URL);
  let key = arg('key', argv) ?? nonEmpty(env.EDGE_ADMIN_KEY);
  if ((url === undefined || key === undefined) && existsSync(stackFile)) {
    const local = JSON.parse(readFileSync(stackFile, 'utf8')) as { edgeUrl: string; adminKey: string };
    url ??= local.edgeUrl;
    key ??= local.adminKey;
  }
  if (url === undefined || key === undefined) {
    throw new Error(
      'no stack to ask: start one with npm start, pass --url <edge> --key <admin key>, or set EDGE_URL and EDGE_ADMIN_KEY',
    );
  }
  return { url, key };
}

/** An env value, undefined when unset or empty (an empty optional Secret key reads as unset). */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export interface AdminTarget {
  url: string;
  key: string;
}

/**
 * The edge's API as a typed client (client/) for the target: bearer auth with its key, 429/503 retried after their
 * Retry-After unless `retry` says otherwise.
 */
export function adminClient(
  target: AdminTarget = adminTarget(),
  options: Pick<ClientOptions, 'retry'> = {},
): EdgeClient {
  return createEdgeClient({ baseUrl: target.url, apiKey: target.key, ...options });
}

/**
 * unwrap for a route that answers JSON or, when asked, text (stats: Prometheus; usage: CSV, NDJSON): the typed client
 * types its data as either; asked for JSON, it is the JSON.
 */
export function unwrapJson<T>(result: { data?: T; error?: unknown; response: Response }): Exclude<T, string> {
  return unwrap(result) as Exclude<T, string>;
}

/** Columns padded to their widest cell, two spaces apart, no trailing spaces. */
export function renderTable(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}
