/**
 * Reads an NDJSON body (one JSON value per line; job results) as it streams: values are yielded as their lines
 * complete, so a large result set is never held whole. A blank line is skipped; a line that is not JSON throws,
 * naming its line number.
 */
export async function* ndjson<T = unknown>(body: ReadableStream<Uint8Array> | null): AsyncGenerator<T> {
  if (body === null) return;
  const decoder = new TextDecoder();
  let buffered = '';
  let line = 0;
  const parse = (text: string): T | undefined => {
    line++;
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new SyntaxError(`NDJSON line ${line} is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
  };
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const value = parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (value !== undefined) yield value;
      nl = buffered.indexOf('\n');
    }
  }
  buffered += decoder.decode();
  const tail = parse(buffered);
  if (tail !== undefined) yield tail;
}
