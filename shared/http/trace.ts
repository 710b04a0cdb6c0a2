/** W3C Trace Context (traceparent) parsing and generation; runs in workerd and Node. */

export interface Trace {
  /** 32 lowercase hex, the whole request tree's id. */
  traceId: string;
  /** 16 lowercase hex: the edge's span, the parent of the origin's. */
  spanId: string;
  /** The caller's span id, when a valid traceparent came in. */
  parentId: string | undefined;
  /** The trace-flags byte as 2 hex digits ('01' = sampled). */
  flags: string;
  /** Incoming `tracestate`, forwarded untouched. */
  tracestate: string | undefined;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** '00'..'ff' by byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i] as number];
  return s;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const h = randomHex(bytes);
    if (!/^0+$/.test(h)) return h;
  }
}

/** Parses a traceparent header; undefined when absent or invalid (per the spec, the caller starts a new trace). */
export function parseTraceparent(
  header: string | null | undefined,
): { traceId: string; parentId: string; flags: string } | undefined {
  if (header === null || header === undefined) return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (m === null) return undefined;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (version === 'ff') return undefined;
  if (version === '00' && rest !== undefined) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, parentId, flags };
}

/** Continues the caller's trace, or starts one; the edge always gets its own span id. */
export function startTrace(
  traceparent: string | null | undefined,
  tracestate: string | null | undefined,
): Trace {
  const parent = parseTraceparent(traceparent);
  return {
    traceId: parent?.traceId ?? nonZeroHex(16),
    spanId: nonZeroHex(8),
    parentId: parent?.parentId,
    flags: parent?.flags ?? '01',
    tracestate: parent === undefined ? undefined : (tracestate ?? undefined),
  };
}

/** The traceparent the edge sends downstream (and returns): its own span as the parent. */
export function formatTraceparent(t: Trace): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}
