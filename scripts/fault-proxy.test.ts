import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A tiny upstream: records what it saw; `/slow` answers after 2 s and records whether its client left first. */
async function startUpstream() {
  const seen: Seen[] = [];
  const closedEarly: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/slow') {
        res.on('close', () => {
          if (!res.writableFinished) closedEarly.push(req.url ?? '');
        });
        setTimeout(() => res.end('late'), 2_000).unref();
        return;
      }
      res.writeHead(201, { 'content-type': 'text/plain', 'x-up': 'yes' });
      res.end(`echo:${body}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = () => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return { url, seen, closedEarly, stop };
}

/** node:http, so the test can send hop-by-hop headers that fetch refuses to set. */
function rawRequest(url: string, method: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('startFaultProxy', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let proxy: FaultProxy;

  beforeEach(async () => {
    upstream = await startUpstream();
    proxy = await startFaultProxy({ target: upstream.url, random: () => 0 });
  });
  afterEach(async () => {
    await proxy.stop();
    await upstream.stop();
  });

  it('forwards method, path, query, end-to-end headers and body, and the answer back', async () => {
    const res = await rawRequest(
      `${proxy.url}/a/b?x=1&y=two`,
      'PUT',
      {
        'x-custom': 'kept',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic eA==',
        'content-type': 'text/plain',
      },
      'hello',
    );
    expect(res).toMatchObject({ status: 201, body: 'echo:hello' });
    expect(res.headers['x-up']).toBe('yes');
    const [got] = upstream.seen;
    expect(got).toMatchObject({ method: 'PUT', url: '/a/b?x=1&y=two', body: 'hello' });
    expect(got?.headers['x-custom']).toBe('kept');
    expect(got?.headers.host).toBe(new URL(upstream.url).host);
    expect(got?.headers['keep-alive']).toBeUndefined();
    expect(got?.headers['proxy-authorization']).toBeUndefined();
    expect(proxy.counts()).toMatchObject({ requests: 1, forwarded: 1 });
  });

  it('adds at least latency_ms', async () => {
    proxy.set({ latency_ms: 150 });
    const t0 = performance.now();
    expect((await fetch(`${proxy.url}/x`)).status).toBe(201);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
  });

  it('adds latency_by_colo for the colo the x-edge-colo header names, on top of latency_ms', async () => {
    proxy.set({ latency_ms: 20, latency_by_colo: { fra: 150, IAD: 0 } });
    expect(proxy.fault().latency_by_colo).toEqual({ FRA: 150, IAD: 0 });
    const timed = async (headers: Record<string, string>) => {
      const t0 = performance.now();
      expect((await fetch(`${proxy.url}/x`, { headers })).status).toBe(201);
      return performance.now() - t0;
    };
    expect(await timed({ 'x-edge-colo': 'FRA' })).toBeGreaterThanOrEqual(165);
    expect(await timed({ 'x-edge-colo': 'fra' })).toBeGreaterThanOrEqual(165);
    // A colo the map does not list, or no header: latency_ms only.
    expect(await timed({ 'x-edge-colo': 'SIN' })).toBeLessThan(120);
    expect(await timed({})).toBeLessThan(120);
    expect(upstream.seen.map((s) => s.headers['x-edge-colo'])).toEqual(['FRA', 'fra', 'SIN', undefined]);
  });

  it('replaces the whole latency_by_colo map on POST and refuses a bad colo or delay', async () => {
    const control = `${proxy.url}/__fault`;
    await fetch(control, { method: 'POST', body: JSON.stringify({ latency_by_colo: { FRA: 5, IAD: 80 } }) });
    const res = await fetch(control, {
      method: 'POST',
      body: JSON.stringify({ latency_by_colo: { SIN: 9 } }),
    });
    expect(await res.json()).toMatchObject({ latency_by_colo: { SIN: 9 } });
    expect(proxy.fault().latency_by_colo).toEqual({ SIN: 9 });
    for (const body of [
      '{"latency_by_colo":{"FRA":-1}}',
      '{"latency_by_colo":{"F R":5}}',
      '{"latency_by_colo":[5]}',
    ]) {
      expect((await fetch(control, { method: 'POST', body })).status, body).toBe(400);
    }
    // What a caller reads is a copy: changing it changes nothing.
    proxy.fault().latency_by_colo.SIN = 1000;
    expect(proxy.fault().latency_by_colo).toEqual({ SIN: 9 });
  });

  it('counts requests per x-edge-colo and x-request-id prefix, blackholed ones too', async () => {
    await fetch(`${proxy.url}/x`, { headers: { 'x-edge-colo': 'fra', 'x-request-id': 'pinned:1' } });
    await fetch(`${proxy.url}/x`, { headers: { 'x-edge-colo': 'FRA', 'x-request-id': 'plain-id' } });
    await fetch(`${proxy.url}/x`, { headers: { 'x-request-id': 'pinned:2:b' } });
    proxy.set({ blackhole: true });
    await fetch(`${proxy.url}/x`, {
      headers: { 'x-edge-colo': 'SIN', 'x-request-id': ':no-prefix' },
      signal: AbortSignal.timeout(100),
    }).catch(() => undefined);
    await until(() => proxy.counts().blackholed === 1);
    expect(proxy.counts()).toMatchObject({
      requests: 4,
      by_colo: { FRA: 2, SIN: 1 },
      by_request_prefix: { pinned: 2 },
    });
    proxy.resetCounts();
    expect(proxy.counts()).toMatchObject({
      requests: 0,
      by_colo: {},
      by_request_prefix: {},
      queue_depth_peak: null,
    });
  });

  it('counts the requests upstream holds, and their peak, until each exchange ends', async () => {
    const slow = [0, 1, 2].map(() => fetch(`${proxy.url}/slow`).then((r) => r.text()));
    const aborted = new AbortController();
    const gone = fetch(`${proxy.url}/slow`, { signal: aborted.signal }).catch(() => 'aborted');
    await until(() => upstream.seen.length === 4);
    expect(proxy.counts()).toMatchObject({ upstream_inflight: 4, upstream_inflight_peak: 4 });
    aborted.abort();
    await gone;
    await until(() => proxy.counts().upstream_inflight === 3);
    proxy.resetCounts();
    // A reset starts the peak from what upstream holds now.
    expect(proxy.counts()).toMatchObject({ requests: 0, upstream_inflight: 3, upstream_inflight_peak: 3 });
    await Promise.all(slow);
    await until(() => proxy.counts().upstream_inflight === 0);
    expect(proxy.counts()).toMatchObject({ upstream_inflight: 0, upstream_inflight_peak: 3 });
    proxy.set({ error_rate: 1 });
    await fetch(`${proxy.url}/x`);
    expect(proxy.counts().upstream_inflight).toBe(0);
  });

  it('keeps the highest x-queue-depth an upstream answer reported', async () => {
    const depths = ['3', '11', 'junk', '7'];
    const queued = createServer((_req, res) => {
      res.writeHead(200, { 'x-queue-depth': depths.shift() ?? '0' });
      res.end('ok');
    });
    await new Promise<void>((r) => queued.listen(0, '127.0.0.1', r));
    const p = await startFaultProxy({
      target: `http://127.0.0.1:${(queued.address() as AddressInfo).port}`,
    });
    try {
      expect(p.counts().queue_depth_peak).toBeNull();
      for (let i = 0; i < 4; i++) await (await fetch(`${p.url}/x`)).text();
      expect(p.counts().queue_depth_peak).toBe(11);
      const got = (await (await fetch(`${p.url}/__fault`)).json()) as {
        counts: { queue_depth_peak: number };
      };
      expect(got.counts.queue_depth_peak).toBe(11);
    } finally {
      await p.stop();
      queued.closeAllConnections();
      await new Promise<void>((r) => queued.close(() => r()));
    }
  });

  it('adds slow_ms to a slow_share of 1', async () => {
    proxy.set({ slow_share: 1, slow_ms: 150 });
    const t0 = performance.now();
    expect((await fetch(`${proxy.url}/x`)).status).toBe(201);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
  });

  it('answers error_rate 1 itself with a 503 JSON error, never touching upstream', async () => {
    proxy.set({ error_rate: 1 });
    const res = await fetch(`${proxy.url}/x`, { method: 'POST', body: 'ignored' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: { code: 'unavailable', message: 'injected by fault proxy' } });
    expect(upstream.seen).toHaveLength(0);
    expect(proxy.counts()).toMatchObject({ requests: 1, errors: 1, forwarded: 0 });
  });

  it('blackholes: the client times out and upstream sees nothing', async () => {
    proxy.set({ blackhole: true });
    await expect(fetch(`${proxy.url}/x`, { signal: AbortSignal.timeout(200) })).rejects.toThrow(
      /abort|timeout/i,
    );
    expect(upstream.seen).toHaveLength(0);
    expect(proxy.counts()).toMatchObject({ blackholed: 1, forwarded: 0 });
  });

  it('resets the client connection without an answer', async () => {
    proxy.set({ reset: true });
    await expect(rawRequest(`${proxy.url}/x`, 'GET', {}, '')).rejects.toThrow(/ECONNRESET|socket hang up/);
    await expect(fetch(`${proxy.url}/x`)).rejects.toThrow(TypeError);
    expect(upstream.seen).toHaveLength(0);
    expect(proxy.counts()).toMatchObject({ resets: 2, forwarded: 0 });
  });

  it('aborts the upstream request when the client leaves before upstream answered', async () => {
    const client = new AbortController();
    const pending = fetch(`${proxy.url}/slow`, { signal: client.signal });
    await until(() => upstream.seen.length === 1);
    client.abort();
    await expect(pending).rejects.toThrow();
    await until(() => upstream.closedEarly.length === 1);
    expect(upstream.closedEarly).toEqual(['/slow']);
    expect(proxy.counts()).toMatchObject({ forwarded: 1, aborted: 1 });
  });

  it('counts a client that leaves during the injected latency as aborted, never forwarding', async () => {
    proxy.set({ latency_ms: 400 });
    await expect(fetch(`${proxy.url}/x`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    await until(() => proxy.counts().aborted === 1);
    expect(proxy.counts()).toMatchObject({ aborted: 1, forwarded: 0 });
    await new Promise((r) => setTimeout(r, 400));
    expect(upstream.seen).toHaveLength(0);
  });

  it('answers 502 JSON when upstream is unreachable', async () => {
    const dead = await startFaultProxy({ target: 'http://127.0.0.1:1' });
    try {
      const res = await fetch(`${dead.url}/x`);
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ error: { code: 'bad_gateway' } });
    } finally {
      await dead.stop();
    }
  });

  it('controls faults over HTTP: POST merges, GET reports, DELETE clears and keeps counts', async () => {
    const control = `${proxy.url}/__fault`;
    let res = await fetch(control, {
      method: 'POST',
      body: JSON.stringify({ latency_ms: 20, error_rate: 0.5 }),
    });
    expect(await res.json()).toMatchObject({ latency_ms: 20, error_rate: 0.5, error_status: 503 });
    res = await fetch(control, { method: 'POST', body: JSON.stringify({ error_status: 500 }) });
    expect(await res.json()).toMatchObject({ latency_ms: 20, error_rate: 0.5, error_status: 500 });
    await fetch(`${proxy.url}/x`);
    expect(await (await fetch(control)).json()).toMatchObject({
      fault: { latency_ms: 20 },
      counts: { requests: 1 },
    });

    res = await fetch(control, { method: 'DELETE' });
    expect(await res.json()).toEqual(proxy.fault());
    expect(proxy.fault()).toMatchObject({
      latency_ms: 0,
      error_rate: 0,
      error_status: 503,
      blackhole: false,
    });
    expect(proxy.counts().requests).toBe(1);

    await fetch(`${control}?reset_counts=1`, { method: 'POST', body: '{}' });
    expect(proxy.counts().requests).toBe(0);
    expect(upstream.seen.every((s) => !s.url.startsWith('/__fault'))).toBe(true);
  });

  it('refuses bad control input with a 400 JSON error', async () => {
    const control = `${proxy.url}/__fault`;
    for (const body of ['{not json', '{"error_rate":2}', '{"latency":5}', '{"blackhole":"yes"}', '[]']) {
      const res = await fetch(control, { method: 'POST', body });
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({
        error: { code: expect.stringMatching(/invalid_json|invalid_input/) },
      });
    }
    expect(proxy.fault().error_rate).toBe(0);
    expect(() => proxy.set({ slow_share: -1 })).toThrow(/slow_share/);
  });

  it('clear() restores the defaults', () => {
    const defaults = proxy.fault();
    proxy.set({
      latency_ms: 5,
      jitter_ms: 5,
      blackhole: true,
      reset: true,
      error_status: 500,
      latency_by_colo: { FRA: 5 },
    });
    proxy.clear();
    expect(proxy.fault()).toEqual(defaults);
  });

  it('starts with its baseline and returns to it on clear() and DELETE', async () => {
    const based = await startFaultProxy({ target: upstream.url, baseline: { latency_by_colo: { FRA: 5 } } });
    try {
      expect(based.fault()).toMatchObject({ latency_ms: 0, latency_by_colo: { FRA: 5 } });
      based.set({ blackhole: true, latency_by_colo: {} });
      based.clear();
      expect(based.fault()).toMatchObject({ blackhole: false, latency_by_colo: { FRA: 5 } });
      based.set({ error_rate: 1 });
      const res = await fetch(`${based.url}/__fault`, { method: 'DELETE' });
      expect(await res.json()).toMatchObject({ error_rate: 0, latency_by_colo: { FRA: 5 } });
    } finally {
      await based.stop();
    }
    await expect(
      startFaultProxy({ target: upstream.url, baseline: { latency_by_colo: { FRA: -5 } } }),
    ).rejects.toThrow(/latency_by_colo/);
  });

  it('stop() returns promptly with a blackholed request open', async () => {
    proxy.set({ blackhole: true });
    const pending = fetch(`${proxy.url}/x`).catch((err: unknown) => err);
    await until(() => proxy.counts().blackholed === 1);
    const t0 = performance.now();
    await proxy.stop();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(await pending).toBeInstanceOf(TypeError);
  });

  it('refuses a non-loopback host and a non-http target', async () => {
    await expect(startFaultProxy({ target: upstream.url, host: '0.0.0.0' as '127.0.0.1' })).rejects.toThrow(
      /host/,
    );
    await expect(startFaultProxy({ target: 'https://127.0.0.1:1' })).rejects.toThrow(/target/);
  });
});
