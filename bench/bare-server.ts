/**
 * The floors bench:origin compares the origin's echo route with: the smallest servers that read a request body and
 * answer fixed bytes, on bare `node:http` and on a minimal Hono app (@hono/node-server), on the same payload.
 *
 *   node bench/bare-server.ts <http|hono> <response-file> <content-type>
 *
 * Listens on a free loopback port and prints one line, {"url": ...}; stops on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';

function main(): void {
  const [kind, file, contentType] = process.argv.slice(2);
  if ((kind !== 'http' && kind !== 'hono') || file === undefined || contentType === undefined) {
    throw new TypeError('usage: node bench/bare-server.ts <http|hono> <response-file> <content-type>');
  }
  const answer = readFileSync(file);
  const headers = { 'content-type': contentType, 'content-length': String(answer.length) };
  let server: http.Server;
  if (kind === 'http') {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        Buffer.concat(chunks);
        res.writeHead(200, headers);
        res.end(answer);
      });
    });
  } else {
    const app = new Hono();
    app.post('*', async (c) => {
      await c.req.arrayBuffer();
      return new Response(answer, { status: 200, headers });
    });
    server = createAdaptorServer({ fetch: app.fetch }) as http.Server;
  }
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
  });
}

main();
