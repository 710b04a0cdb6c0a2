/**
 * What the admin CLIs (npm run drift, npm run rollout) share: `--name value` arguments, the edge to ask and the
 * admin key (`--url`/`--key`, else the stack `npm start` is running: .wrangler/local-stack.json), one JSON call,
 * and a plain text table.
 */
import { existsSync, readFileSync } from 'node:fs';
import { LOCAL_STACK_FILE } from './stack.ts';

export function arg(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The edge URL and admin key to use; throws naming both ways to give them. */
export function adminTarget(): { url: string; key: string } {
  let url = arg('url');
  let key = arg('key');
  if ((url === undefined || key === undefined) && existsSync(LOCAL_STACK_FILE)) {
    const local = JSON.parse(readFileSync(LOCAL_STACK_FILE, 'utf8')) as { edgeUrl: string; adminKey: string };
    url ??= local.edgeUrl;
    key ??= local.adminKey;
  }
  if (url === undefined || key === undefined) {
    throw new Error('no stack to ask: start one with npm start, or pass --url <edge> --key <admin key>');
  }
  return { url, key };
}

/** One admin call; throws with the edge's error code and message on a non-2xx answer. */
export async function adminCall<T>(method: string, path: string, body?: unknown): Promise<T> {
  const { url, key } = adminTarget();
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
  if (!res.ok) {
    throw new Error(
      `edge answered ${res.status}: ${parsed.error?.code ?? ''} ${parsed.error?.message ?? ''}`,
    );
  }
  return parsed;
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
