import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ChunkWriter, drainBody, type JobLimits, storeNdjson, storeTexts } from './ingest.ts';

const limits: JobLimits = {
  maxRows: 1000,
  maxBytes: 1_000_000,
  chunkRows: 3,
  chunkBytes: 1_000_000,
  maxLineBytes: 10_000,
};

/** A body delivered in the given pieces (to split lines and multi-byte characters across reads). */
function pieces(...parts: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(typeof p === 'string' ? enc.encode(p) : p);
      controller.close();
    },
  });
}

async function stored(prefix: string): Promise<string[][]> {
  const list = await env.JOBS_BUCKET.list({ prefix });
  const keys = list.objects
    .map((o) => o.key)
    .sort((a, b) => Number(a.match(/(\d+)\.ndjson$/)?.[1]) - Number(b.match(/(\d+)\.ndjson$/)?.[1]));
  return Promise.all(
    keys.map(async (k) =>
      ((await (await env.JOBS_BUCKET.get(k))?.text()) ?? '')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as string),
    ),
  );
}

describe('job ingest (streamed NDJSON into the local R2)', () => {
  it('a body refused at its first line is still read to its end (up to a cap) before the answer, then cancelled', async () => {
    // Answering while the client is still uploading made local runtimes drop the connection (a 500 with no JSON).
    const enc = new TextEncoder();
    const track = (parts: number, partBytes: number) => {
      const seen = { pulled: 0, cancelled: false };
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (seen.pulled === parts) return controller.close();
          controller.enqueue(
            seen.pulled === 0 ? enc.encode('{"nope": 1}\n') : new Uint8Array(partBytes).fill(32),
          );
          seen.pulled++;
        },
        cancel() {
          seen.cancelled = true;
        },
      });
      return { stream, seen };
    };
    const small = track(20, 1000);
    const writer = () => new ChunkWriter(env.JOBS_BUCKET, `t/${crypto.randomUUID()}/`, limits);
    await expect(storeNdjson(small.stream, writer(), limits)).rejects.toThrow(/line 1/);
    expect(small.seen).toEqual({ pulled: 20, cancelled: false });
    // A body sent as gzip that is not: decompressing fails at once; the compressed body is still drained.
    const plain = track(20, 1000);
    const inflated = plain.stream.pipeThrough(new DecompressionStream('gzip'), { preventCancel: true });
    await expect(storeNdjson(inflated, writer(), limits)).rejects.toThrow(/could not be read/);
    await drainBody(plain.stream, 1_000_000);
    expect(plain.seen).toEqual({ pulled: 20, cancelled: false });
    const huge = track(100_000, 65_536);
    await expect(storeNdjson(huge.stream, writer(), limits)).rejects.toThrow(/line 1/);
    expect(huge.seen.cancelled).toBe(true);
    expect(huge.seen.pulled).toBeLessThan(1000);
  });

  it('reads lines across reads (a UTF-8 character split in two), CRLF, blank lines, both row forms, unicode', async () => {
    const prefix = `t/${crypto.randomUUID()}/`;
    const euro = new TextEncoder().encode('"5 €"\n'); // € is 3 bytes: split it across two reads
    const body = pieces(
      '"a"\r\n{"text": "b',
      '"}\n\n   \n"e\\u0301 ',
      'مرحبا 🙂"\n',
      euro.subarray(0, 4),
      euro.subarray(4),
      '"last"',
    );
    const input = await storeNdjson(body, new ChunkWriter(env.JOBS_BUCKET, prefix, limits), limits);
    expect(input).toMatchObject({
      rows: 5,
      chunks: [
        { rows: 3, first: 0 },
        { rows: 2, first: 3 },
      ],
    });
    expect(await stored(prefix)).toEqual([
      ['a', 'b', 'e\u0301 مرحبا 🙂'],
      ['5 €', 'last'],
    ]);
  });

  it('chunks by bytes too: a chunk closes before the row that would pass chunkBytes', async () => {
    const prefix = `t/${crypto.randomUUID()}/`;
    const small = { ...limits, chunkRows: 100, chunkBytes: 30 };
    const lines = ['x'.repeat(10), 'y'.repeat(10), 'z'.repeat(40), 'w']
      .map((t) => JSON.stringify(t))
      .join('\n');
    const input = await storeNdjson(pieces(lines), new ChunkWriter(env.JOBS_BUCKET, prefix, small), small);
    expect(input.chunks.map((c) => c.rows)).toEqual([2, 1, 1]);
  });

  it('refuses and deletes what it wrote: a bad line after full chunks, a line over maxLineBytes, invalid UTF-8', async () => {
    for (const [body, status] of [
      [
        pieces('"1"\n"2"\n"3"\n"4"\n{"txt": "5"}\n'),
        /^line 5: expected a JSON string or \{"text": "\.\.\."\}$/,
      ],
      [pieces('"1"\n', `"${'x'.repeat(20_000)}`), /^line 2 is longer than 10000 bytes/],
      [
        pieces('"1"\n"2"\n"3"\n', new Uint8Array([0x22, 0xc3, 0x28, 0x22])),
        /^line 4: the body is not valid UTF-8$/,
      ],
    ] as const) {
      const prefix = `t/${crypto.randomUUID()}/`;
      await expect(
        storeNdjson(body, new ChunkWriter(env.JOBS_BUCKET, prefix, limits), limits),
      ).rejects.toThrow(status);
      expect(await stored(prefix)).toEqual([]);
    }
  });

  it('a JSON body {"texts": [...]} through the same writer; wrong shapes name the item', async () => {
    const prefix = `t/${crypto.randomUUID()}/`;
    const writer = () => new ChunkWriter(env.JOBS_BUCKET, prefix, limits);
    expect((await storeTexts({ texts: ['a', { text: 'b' }] }, writer(), 20)).rows).toBe(2);
    await expect(storeTexts({ texts: ['a', 3] }, writer(), 5)).rejects.toThrow(/^texts\[1\]: /);
    await expect(storeTexts({ text: 'a' }, writer(), 5)).rejects.toThrow(/expected \{"texts": \[\.\.\.\]\}/);
    await expect(storeTexts({ texts: [] }, writer(), 5)).rejects.toThrow(/no rows/);
  });
});
