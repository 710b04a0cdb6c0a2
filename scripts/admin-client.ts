/**
 * What the admin CLIs (npm run drift, npm run rollout, npm run keys) share: `--name value` arguments, the edge to
 * ask and the admin key (`--url`/`--key`, else EDGE_URL/EDGE_ADMIN_KEY, else the stack `npm start` is running:
 * .wrangler/local-stack.json), one JSON call (a refusal throws an AdminError with the edge's code and message),
 * and a plain text table.
 */
import { existsSync, readFileSync } from 'node:fs';
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

/** A non-2xx answer: its HTTP status and the edge's error `code` and `detail` (its message). */
export class AdminError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  constructor(status: number, code: string, detail: string) {
    super(`edge answered ${status}: ${code} ${detail}`);
    this.name = 'AdminError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

async function send(
  target: AdminTarget,
  method: string,
  path: string,
  body: unknown,
): Promise<{ res: Response; text: string }> {
  const raw = body instanceof Uint8Array;
  const res = await fetch(`${target.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${target.key}`,
      ...(body === undefined
        ? {}
        : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
    },
    ...(body === undefined ? {} : { body: raw ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body) }),
  });
  return { res, text: await res.text() };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function errorOf(status: number, parsed: unknown): AdminError {
  const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
  return new AdminError(status, error?.code ?? '', error?.message ?? '');
}

/**
 * One admin call (a Uint8Array body is sent as application/octet-stream, anything else as JSON); throws an AdminError with the edge's error code and message on a non-2xx answer. `target`
 * defaults to adminTarget() (this process's --url/--key, else EDGE_URL/EDGE_ADMIN_KEY, else the local stack).
 */
export async function adminCall<T>(
  method: string,
  path: string,
  body?: unknown,
  target: AdminTarget = adminTarget(),
): Promise<T> {
  const { res, text } = await send(target, method, path, body);
  const parsed = parseJson(text);
  if (!res.ok) throw errorOf(res.status, parsed);
  return parsed as T;
}

/** The same for an answer that is not JSON (CSV, NDJSON): its body as text. */
export async function adminText(
  method: string,
  path: string,
  target: AdminTarget = adminTarget(),
): Promise<string> {
  const { res, text } = await send(target, method, path, undefined);
  if (!res.ok) throw errorOf(res.status, parseJson(text));
  return text;
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
