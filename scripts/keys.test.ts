import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type BootstrapRecord,
  expiresAt,
  type Io,
  type KeyView,
  keyCreateRequest,
  keyRequest,
  keyTable,
  pagePath,
  parseBootstrap,
  planImport,
  planLines,
  positionals,
  run,
  type TenantView,
  tenantCreateRequest,
  type UsageAnswer,
  usageRequest,
  usageTable,
} from './keys.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');

const keyView = (over: Partial<KeyView> = {}): KeyView => ({
  id: 'key_1',
  tenant: 'ten_1',
  name: 'ci',
  scopes: ['infer'],
  models: null,
  start: 'sk_dev_AbCd',
  created_at: '2026-11-30T10:11:12.000Z',
  updated_at: '2026-11-30T10:11:12.000Z',
  expires_at: null,
  disabled: false,
  disabled_at: null,
  revoked: false,
  revoked_at: null,
  ...over,
});

const tenantView = (over: Partial<TenantView> = {}): TenantView => ({
  id: 'ten_1',
  name: 'acme',
  tier: 'pro',
  models: ['*'],
  regions: ['*'],
  quotas: {},
  created_at: '2026-11-30T09:00:00.000Z',
  updated_at: '2026-11-30T09:00:00.000Z',
  disabled: false,
  disabled_at: null,
  ...over,
});

const hash = (c: string) => c.repeat(64);

describe('npm run keys: arguments and request bodies', () => {
  it('finds the command and its id among flags, switches included', () => {
    expect(positionals(['rotate', '--grace', '60', 'key_1'])).toEqual(['rotate', 'key_1']);
    expect(positionals(['list', '--all', '--tenant', 't'])).toEqual(['list']);
    expect(positionals(['import-bootstrap', '--dry-run', '--file', 'a.json'])).toEqual(['import-bootstrap']);
  });

  it('builds the tenant body, quotas only when given', () => {
    expect(
      tenantCreateRequest([
        '--name',
        'acme',
        '--tier',
        'pro',
        '--models',
        'spam, digits',
        '--regions',
        'eu',
        '--items-per-day',
        '1000',
      ]),
    ).toEqual({
      method: 'POST',
      path: '/v1/admin/tenants',
      body: {
        name: 'acme',
        tier: 'pro',
        models: ['spam', 'digits'],
        regions: ['eu'],
        quotas: { items_per_day: 1000 },
      },
    });
    expect(tenantCreateRequest(['--name', 'acme', '--tier', 'free']).body).toEqual({
      name: 'acme',
      tier: 'free',
    });
    expect(() => tenantCreateRequest(['--name', 'acme'])).toThrow(/tenant-create needs --tier/);
    expect(() => tenantCreateRequest(['--name', 'a', '--tier', 'pro', '--items-per-month', '1.5'])).toThrow(
      /--items-per-month must be an integer/,
    );
    expect(() => tenantCreateRequest(['--name', '--tier', 'pro'])).toThrow(/--name needs a value/);
  });

  it('builds the key body: scopes default to infer, --expires becomes ISO 8601 with an offset', () => {
    expect(keyCreateRequest(['--tenant', 'ten_1', '--name', 'ci']).body).toEqual({
      tenant: 'ten_1',
      name: 'ci',
      scopes: ['infer'],
    });
    expect(
      keyCreateRequest([
        '--tenant',
        'ten_1',
        '--name',
        'ci',
        '--scopes',
        'infer,reviewer',
        '--models',
        'spam',
        '--expires',
        '2027-01-01T02:00:00+02:00',
      ]).body,
    ).toEqual({
      tenant: 'ten_1',
      name: 'ci',
      scopes: ['infer', 'reviewer'],
      models: ['spam'],
      expires_at: '2027-01-01T00:00:00.000Z',
    });
    expect(expiresAt('2027-01-01')).toBe('2027-01-01T00:00:00.000Z');
    expect(() => expiresAt('2027-01-01T00:00:00')).toThrow(/with an offset/);
    expect(() => expiresAt('soon')).toThrow(/--expires/);
    expect(() => keyCreateRequest(['--tenant', 't', '--name', 'n', '--scopes', 'infer,root'])).toThrow(
      /not: root/,
    );
  });

  it('builds the key commands and the page and usage queries', () => {
    expect(keyRequest('rotate', 'key_1', ['--grace', '3600'])).toEqual({
      method: 'POST',
      path: '/v1/admin/keys/key_1/rotate',
      body: { grace_seconds: 3600 },
    });
    expect(keyRequest('rotate', 'key_1', [])).toMatchObject({ body: {} });
    expect(keyRequest('revoke', 'key_1', [])).toEqual({
      method: 'POST',
      path: '/v1/admin/keys/key_1/revoke',
    });
    expect(keyRequest('disable', 'key_1', [])).toEqual({
      method: 'PATCH',
      path: '/v1/admin/keys/key_1',
      body: { disabled: true },
    });
    expect(keyRequest('enable', 'a/b', []).path).toBe('/v1/admin/keys/a%2Fb');
    expect(() => keyRequest('show', undefined, [])).toThrow(/show needs a key id/);
    expect(pagePath('/v1/admin/keys', ['--tenant', 'ten_1', '--limit', '50'], 'key_9')).toBe(
      '/v1/admin/keys?tenant=ten_1&cursor=key_9&limit=50',
    );
    expect(() => pagePath('/v1/admin/keys', ['--limit', '5000'], undefined)).toThrow(/\[1, 1000\]/);
    expect(
      usageRequest([
        '--tenant',
        'ten_1',
        '--from',
        '2026-11-01',
        '--to',
        '2026-11-30',
        '--group-by',
        'model',
      ]),
    ).toEqual({
      path: '/v1/usage?from=2026-11-01&to=2026-11-30&group_by=model&tenant=ten_1&format=json',
      format: 'table',
    });
    expect(usageRequest(['--format', 'csv'])).toEqual({ path: '/v1/usage?format=csv', format: 'csv' });
    expect(() => usageRequest(['--group-by', 'week'])).toThrow(/key\|model\|day\|hour/);
    expect(() => usageRequest(['--from', '2026-02-30'])).toThrow(/YYYY-MM-DD/);
    expect(() => usageRequest(['--from', '2026-12-02', '--to', '2026-12-01'])).toThrow(/after --to/);
  });
});

describe('npm run keys: output', () => {
  it('renders keys with their state', () => {
    const lines = keyTable(
      [
        keyView(),
        keyView({ id: 'key_2', revoked: true, revoked_at: '2026-12-01T00:00:00.000Z' }),
        keyView({ id: 'key_3', expires_at: '2026-12-01T11:00:00.000Z', scopes: ['infer', 'reviewer'] }),
        keyView({ id: 'key_4', disabled: true }),
      ],
      NOW,
    );
    expect(lines[0]).toMatch(/^id +tenant +name +scopes +start +created +expires +last used +state$/);
    expect(lines[1]).toMatch(/^key_1 +ten_1 +ci +infer +sk_dev_AbCd +2026-11-30 10:11 +- +- +active$/);
    expect(lines[2]).toMatch(/ revoked$/);
    expect(lines[3]).toMatch(/infer,reviewer .* 2026-12-01 11:00 +- +expired$/);
    expect(lines[4]).toMatch(/ disabled$/);
    expect(keyTable([], NOW)).toEqual(['(no keys)']);
  });

  it('renders usage per group with a total and the refusals by code', () => {
    const answer: UsageAnswer = {
      tenant: 'ten_1',
      from: '2026-11-01',
      to: '2026-11-30',
      group_by: ['model'],
      rows: [
        {
          model: 'spam',
          requests: 10,
          items: 40,
          job_rows: 0,
          served_by: { edge: 30, origin: 8, cache: 2, 'edge-degraded': 0 },
          refused: { rate_limited: 2 },
          origin_compute_ms: 120,
          edge_saved_ms: 900,
        },
        {
          model: 'digits',
          requests: 5,
          items: 5,
          job_rows: 1000,
          served_by: { edge: 5 },
          refused: { quota_exceeded: 1, rate_limited: 1 },
          origin_compute_ms: 0,
          edge_saved_ms: 50,
        },
      ],
      dropped: 0,
    };
    const lines = usageTable(answer);
    expect(lines[0]).toBe('usage of ten_1, 2026-11-01 to 2026-11-30, by model');
    expect(lines[1]).toMatch(
      /^model +requests +items +job_rows +edge +origin +cache +degraded +refused +origin_compute_ms$/,
    );
    expect(lines[2]).toMatch(/^spam +10 +40 +0 +30 +8 +2 +0 +2 +120$/);
    expect(lines[3]).toMatch(/^digits +5 +5 +1000 +5 +0 +0 +0 +2 +0$/);
    expect(lines[4]).toMatch(/^total +15 +45 +1000 +35 +8 +2 +0 +4 +120$/);
    expect(lines[5]).toBe('refused: rate_limited 3, quota_exceeded 1');
    expect(usageTable({ ...answer, rows: [], dropped: 0 })).toEqual([
      'usage of ten_1, 2026-11-01 to 2026-11-30, by model',
      '(no usage in this range)',
    ]);
  });
});

describe('npm run keys: import-bootstrap plan', () => {
  const apiKeys = {
    [hash('a')]: { name: 'root', models: ['*'], tier: 'internal', scopes: ['admin'] },
    [hash('b')]: { id: 'key_acme_1', name: 'acme-ci', models: ['spam'], tier: 'pro', tenant: 'acme' },
    [hash('c')]: {
      name: 'acme-batch',
      models: ['digits'],
      tier: 'pro',
      scopes: ['infer', 'infer'],
      tenant: 'acme',
    },
  };

  it('reads API_KEYS as the edge does (scopes default to infer) and refuses what the edge refuses', () => {
    const records = parseBootstrap(JSON.stringify(apiKeys));
    expect(records.map((r) => [r.name, r.scopes, r.tenant])).toEqual([
      ['root', ['admin'], undefined],
      ['acme-ci', ['infer'], 'acme'],
      ['acme-batch', ['infer'], 'acme'],
    ]);
    expect(() => parseBootstrap('{"ABC": {}}')).toThrow(/sha256 hex/);
    expect(() =>
      parseBootstrap(JSON.stringify({ [hash('d')]: { name: 'x', models: [], tier: 't', kind: 1 } })),
    ).toThrow(/unknown field\(s\) kind/);
    expect(() =>
      parseBootstrap(JSON.stringify({ [hash('d')]: { name: 'x', models: [], tier: 't', scopes: ['root'] } })),
    ).toThrow(/scopes/);
    expect(() => parseBootstrap('[1')).toThrow(/not JSON/);
  });

  it('groups records by tenant, reuses a tenant found by name, skips names already imported', () => {
    const records = parseBootstrap(JSON.stringify(apiKeys));
    const plan = planImport(
      records,
      [tenantView({ id: 'ten_acme', name: 'acme', tier: 'free' })],
      'bootstrap',
      new Map([['ten_acme', new Set(['acme-ci'])]]),
    );
    expect(plan.map((t) => [t.name, t.existing?.id, t.create, t.records.map((r) => r.name)])).toEqual([
      ['bootstrap', undefined, { name: 'bootstrap', tier: 'internal', models: ['*'] }, ['root']],
      ['acme', 'ten_acme', { name: 'acme', tier: 'pro', models: ['spam', 'digits'] }, ['acme-batch']],
    ]);
    expect(plan[1]?.skipped.map((r) => r.name)).toEqual(['acme-ci']);
    expect(plan[1]?.warnings).toEqual(['tenant acme (ten_acme) exists with tier free: kept (records: pro)']);
    const lines = planLines(plan);
    expect(lines[0]).toBe('would create tenant bootstrap (tier internal, models *)');
    expect(lines[1]).toMatch(
      /^ {2}would create key root \(scopes admin, models the tenant's\) for API_KEYS aaaaaaaaaaaa…$/,
    );
    expect(lines).toContain('  skip acme-ci: the tenant already has a key of that name');
    const twoTiers: BootstrapRecord[] = [
      { hash: hash('e'), name: 'x', models: ['spam'], tier: 'pro', scopes: ['infer'], tenant: 't' },
      { hash: hash('f'), name: 'y', models: ['spam'], tier: 'free', scopes: ['infer'], tenant: 't' },
    ];
    expect(planImport(twoTiers, [], 'bootstrap')[0]?.warnings[0]).toMatch(
      /tiers pro, free: the tenant gets pro/,
    );
    expect(() =>
      planImport(twoTiers, [tenantView({ name: 't' }), tenantView({ id: 'ten_2', name: 't' })], 'b'),
    ).toThrow(/2 tenants are named t/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A stand-in edge: node:http on 127.0.0.1 playing the admin routes' shapes (edge/src/tenants/routes.ts) and
// GET /v1/usage, recording every request the CLI sends.

const ADMIN_KEY = 'sk_dev_ADMINKEYadminkeyADMINKEYadmink000000';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

class StandInEdge {
  seen: Seen[] = [];
  tenants: TenantView[] = [];
  keys: KeyView[] = [];
  #n = 0;
  #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  reset(): void {
    this.seen = [];
    this.tenants = [];
    this.keys = [];
    this.#n = 0;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text === '' ? undefined : JSON.parse(text);
    const url = new URL(req.url ?? '/', 'http://edge');
    this.seen.push({
      method: req.method ?? '',
      url: `${url.pathname}${url.search}`,
      auth: req.headers.authorization,
      contentType: req.headers['content-type'],
      body,
    });
    const json = (status: number, v: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    const fail = (status: number, code: string, message: string) =>
      json(status, { error: { code, message } });
    if (req.headers.authorization !== `Bearer ${ADMIN_KEY}`)
      return fail(401, 'unauthorized', 'unknown API key');
    const route = `${req.method} ${url.pathname}`;
    const page = <T extends { id: string }>(items: T[]) => {
      // Pages of `limit` (2 here unless asked), after `cursor`, as the store pages by id.
      const limit = Number(url.searchParams.get('limit') ?? 2);
      const after = url.searchParams.get('cursor') ?? '';
      const rest = items.filter((x) => x.id > after);
      return {
        items: rest.slice(0, limit),
        cursor: rest.length > limit ? (rest[limit - 1]?.id ?? null) : null,
      };
    };
    const now = new Date(NOW).toISOString();
    if (route === 'POST /v1/admin/tenants') {
      const t = tenantView({
        id: `ten_${++this.#n}`,
        name: body.name,
        tier: body.tier,
        models: body.models ?? ['*'],
        regions: body.regions ?? ['*'],
        quotas: body.quotas ?? {},
      });
      this.tenants.push(t);
      return json(201, t);
    }
    if (route === 'GET /v1/admin/tenants') {
      const p = page(this.tenants);
      return json(200, { tenants: p.items, cursor: p.cursor });
    }
    if (route === 'POST /v1/admin/keys') {
      if (body.scopes.includes('admin'))
        return fail(403, 'forbidden', 'only an admin key may grant the admin scope');
      if (!this.tenants.some((t) => t.id === body.tenant))
        return fail(404, 'not_found', `no tenant '${body.tenant}'`);
      const id = `key_${++this.#n}`;
      const k = keyView({
        id,
        tenant: body.tenant,
        name: body.name,
        scopes: body.scopes,
        models: body.models ?? null,
        start: `sk_dev_${id}`,
        created_at: now,
        expires_at: body.expires_at ?? null,
      });
      this.keys.push(k);
      return json(201, { key: `sk_dev_SECRET_${id}`, record: k });
    }
    if (route === 'GET /v1/admin/keys') {
      const tenant = url.searchParams.get('tenant');
      const p = page(this.keys.filter((k) => tenant === null || k.tenant === tenant));
      return json(200, { keys: p.items, cursor: p.cursor });
    }
    if (route === 'GET /v1/admin/audit') {
      return json(200, {
        entries: [
          {
            id: 2,
            at: now,
            actor: 'key_root',
            actor_tenant: null,
            tenant_id: 'ten_1',
            action: 'key.revoke',
            target: 'key_1',
            detail: {},
            request_id: 'r2',
          },
        ],
        cursor: null,
      });
    }
    if (route === 'GET /v1/usage') {
      if (url.searchParams.get('format') === 'csv') {
        res.writeHead(200, { 'content-type': 'text/csv' });
        return void res.end('model,requests\nspam,10\n');
      }
      return json(200, {
        tenant: url.searchParams.get('tenant'),
        from: url.searchParams.get('from') ?? '2026-12-01',
        to: url.searchParams.get('to') ?? '2026-12-01',
        group_by: (url.searchParams.get('group_by') ?? 'key').split(','),
        rows: [
          {
            key: 'key_1',
            requests: 3,
            items: 7,
            job_rows: 0,
            served_by: { edge: 6, origin: 1, cache: 0, 'edge-degraded': 0 },
            refused: {},
            origin_compute_ms: 12,
            edge_saved_ms: 40,
            last_used: now,
          },
        ],
        dropped: 0,
      });
    }
    const m = /^\/v1\/admin\/keys\/([^/]+)(\/rotate|\/revoke)?$/.exec(url.pathname);
    const k = m === null ? undefined : this.keys.find((x) => x.id === decodeURIComponent(m[1] as string));
    if (m !== null && k === undefined) return fail(404, 'not_found', `no key '${m[1]}'`);
    if (k !== undefined && m !== null) {
      if (req.method === 'GET' && m[2] === undefined) return json(200, k);
      if (req.method === 'PATCH' && m[2] === undefined) {
        Object.assign(k, { disabled: body.disabled, disabled_at: body.disabled ? now : null });
        return json(200, k);
      }
      if (req.method === 'POST' && m[2] === '/revoke') {
        Object.assign(k, { revoked: true, revoked_at: now });
        return json(200, { record: k });
      }
      if (req.method === 'POST' && m[2] === '/rotate') {
        if (k.revoked) return fail(409, 'conflict', 'a revoked key cannot be rotated');
        return json(200, { key: `sk_dev_ROTATED_${k.id}`, record: { ...k, start: 'sk_dev_Rot1' } });
      }
    }
    fail(404, 'not_found', `no route ${route}`);
  }
}

describe('npm run keys against a stand-in edge (node:http playing the admin routes)', () => {
  const edge = new StandInEdge();
  let url = '';
  let dir = '';
  let out: string[] = [];
  let err: string[] = [];
  let raw = '';
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    raw: (t) => {
      raw += t;
    },
  };
  const keys = (...argv: string[]) => run([...argv, '--url', url, '--key', ADMIN_KEY], io);
  const everything = () => [...out, ...err, raw].join('\n');

  beforeAll(async () => {
    url = await edge.listen();
    dir = mkdtempSync(join(tmpdir(), 'keys-test-'));
  });
  afterAll(async () => {
    await edge.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    edge.reset();
    out = [];
    err = [];
    raw = '';
  });

  it('creates a tenant and a key, prints the secret once with the record, never the admin key', async () => {
    expect(
      await keys(
        'tenant-create',
        '--name',
        'acme',
        '--tier',
        'pro',
        '--models',
        'spam',
        '--items-per-month',
        '5000',
      ),
    ).toBe(0);
    expect(edge.seen[0]).toEqual({
      method: 'POST',
      url: '/v1/admin/tenants',
      auth: `Bearer ${ADMIN_KEY}`,
      contentType: 'application/json',
      body: { name: 'acme', tier: 'pro', models: ['spam'], quotas: { items_per_month: 5000 } },
    });
    expect(out.join('\n')).toMatch(/id +ten_1/);
    out = [];
    expect(
      await keys('create', '--tenant', 'ten_1', '--name', 'ci', '--expires', '2027-01-01T00:00:00Z'),
    ).toBe(0);
    expect(edge.seen[1]?.body).toEqual({
      tenant: 'ten_1',
      name: 'ci',
      scopes: ['infer'],
      expires_at: '2027-01-01T00:00:00.000Z',
    });
    expect(out.filter((l) => l.includes('sk_dev_SECRET_key_2'))).toEqual(['  sk_dev_SECRET_key_2']);
    expect(out).toContain('store it now: it is shown once (the edge keeps only its hash)');
    expect(out.join('\n')).toMatch(/expires_at +2027-01-01T00:00:00.000Z/);
    expect(everything()).not.toContain(ADMIN_KEY);
  });

  it('lists keys one page at a time, or every page with --all', async () => {
    edge.tenants.push(tenantView());
    for (const n of [1, 2, 3]) edge.keys.push(keyView({ id: `key_${n}`, name: `k${n}` }));
    expect(await keys('list', '--tenant', 'ten_1')).toBe(0);
    expect(out).toHaveLength(4);
    expect(out[3]).toBe('(more: add --cursor key_2, or --all)');
    out = [];
    expect(await keys('list', '--tenant', 'ten_1', '--all', '--limit', '2')).toBe(0);
    expect(edge.seen.map((s) => s.url)).toEqual([
      '/v1/admin/keys?tenant=ten_1',
      '/v1/admin/keys?tenant=ten_1&limit=2',
      '/v1/admin/keys?tenant=ten_1&cursor=key_2&limit=2',
    ]);
    expect(out.slice(1).map((l) => l.split(/ +/)[0])).toEqual(['key_1', 'key_2', 'key_3']);
  });

  it('shows, rotates with grace, disables, enables and revokes a key with the documented requests', async () => {
    edge.tenants.push(tenantView());
    edge.keys.push(keyView());
    expect(await keys('show', 'key_1')).toBe(0);
    expect(await keys('rotate', 'key_1', '--grace', '3600')).toBe(0);
    expect(out).toContain('  sk_dev_ROTATED_key_1');
    expect(out).toContain('the previous secret keeps working for 3600 s');
    expect(await keys('disable', 'key_1')).toBe(0);
    expect(out.at(-1)).toMatch(/^state +disabled$/);
    expect(await keys('enable', 'key_1')).toBe(0);
    expect(await keys('revoke', 'key_1')).toBe(0);
    expect(out.at(-1)).toMatch(/^state +revoked$/);
    expect(edge.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['GET', '/v1/admin/keys/key_1', undefined],
      ['POST', '/v1/admin/keys/key_1/rotate', { grace_seconds: 3600 }],
      ['PATCH', '/v1/admin/keys/key_1', { disabled: true }],
      ['PATCH', '/v1/admin/keys/key_1', { disabled: false }],
      ['POST', '/v1/admin/keys/key_1/revoke', undefined],
    ]);
    expect(everything()).not.toContain(ADMIN_KEY);
  });

  it('prints the edge refusal as <code>: <message> and exits 1; a usage error exits 2 before asking', async () => {
    edge.tenants.push(tenantView());
    edge.keys.push(keyView({ revoked: true }));
    expect(await keys('rotate', 'key_1')).toBe(1);
    expect(err).toEqual(['conflict: a revoked key cannot be rotated']);
    err = [];
    expect(await keys('show', 'key_nope')).toBe(1);
    expect(err).toEqual(["not_found: no key 'key_nope'"]);
    const before = edge.seen.length;
    expect(await keys('create', '--tenant', 'ten_1')).toBe(2);
    expect(await keys('frobnicate')).toBe(2);
    expect(await run(['help'], io)).toBe(2);
    expect(edge.seen).toHaveLength(before);
    expect(err.join('\n')).toMatch(/create needs --name/);
    expect(err.join('\n')).toMatch(/unknown command: frobnicate/);
    expect(everything()).not.toContain(ADMIN_KEY);
  });

  it('shows the audit log and usage (table, and csv as the edge sends it)', async () => {
    expect(await keys('audit', '--tenant', 'ten_1')).toBe(0);
    expect(out[1]).toMatch(/^2026-12-01 12:00 +key\.revoke +key_1 +ten_1 +key_root +-$/);
    out = [];
    expect(
      await keys(
        'usage',
        '--tenant',
        'ten_1',
        '--from',
        '2026-11-01',
        '--to',
        '2026-11-30',
        '--group-by',
        'key',
      ),
    ).toBe(0);
    expect(out[0]).toBe('usage of ten_1, 2026-11-01 to 2026-11-30, by key');
    expect(out[2]).toMatch(/^key_1 +3 +7 +0 +6 +1 +0 +0 +0 +12$/);
    expect(await keys('usage', '--format', 'csv', '--group-by', 'model')).toBe(0);
    expect(raw).toBe('model,requests\nspam,10\n');
    expect(edge.seen.map((s) => s.url)).toEqual([
      '/v1/admin/audit?tenant=ten_1',
      '/v1/usage?from=2026-11-01&to=2026-11-30&group_by=key&tenant=ten_1&format=json',
      '/v1/usage?group_by=model&format=csv',
    ]);
  });

  it('imports API_KEYS records: tenants by name, a key per record, new secrets as JSON lines; admin-scope refusals surface', async () => {
    edge.tenants.push(tenantView({ id: 'ten_acme', name: 'acme' }));
    const file = join(dir, 'api-keys.json');
    writeFileSync(
      file,
      JSON.stringify({
        [hash('a')]: { name: 'root', models: ['*'], tier: 'internal', scopes: ['admin'] },
        [hash('b')]: { name: 'acme-ci', models: ['spam'], tier: 'pro', tenant: 'acme' },
        [hash('c')]: { name: 'ops', models: ['*'], tier: 'internal', scopes: ['reviewer'] },
      }),
    );
    expect(await keys('import-bootstrap', '--file', file, '--dry-run')).toBe(0);
    expect(out).toContain('would create tenant bootstrap (tier internal, models *)');
    expect(out).toContain('tenant acme exists: ten_acme (tier pro, models *)');
    expect(edge.seen.every((s) => s.method === 'GET')).toBe(true);
    expect(edge.keys).toHaveLength(0);

    out = [];
    edge.seen = [];
    expect(await keys('import-bootstrap', '--file', file)).toBe(1);
    expect(edge.seen.filter((s) => s.method === 'POST').map((s) => [s.url, s.body])).toEqual([
      ['/v1/admin/tenants', { name: 'bootstrap', tier: 'internal', models: ['*'] }],
      ['/v1/admin/keys', { tenant: 'ten_1', name: 'root', scopes: ['admin'] }],
      ['/v1/admin/keys', { tenant: 'ten_1', name: 'ops', scopes: ['reviewer'] }],
      ['/v1/admin/keys', { tenant: 'ten_acme', name: 'acme-ci', scopes: ['infer'], models: ['spam'] }],
    ]);
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { name: 'ops', tenant: 'ten_1', key_id: 'key_2', key: 'sk_dev_SECRET_key_2' },
      { name: 'acme-ci', tenant: 'ten_acme', key_id: 'key_3', key: 'sk_dev_SECRET_key_3' },
    ]);
    const log = err.join('\n');
    expect(log).toMatch(
      /not imported: root \(API_KEYS aaaaaaaaaaaa…\): forbidden: only an admin key may grant the admin scope/,
    );
    expect(log).toMatch(/remove these records from the API_KEYS secret/);
    expect(log).toMatch(/cccccccccccc… ops/);

    // A second run adds only what is missing: the names already there are skipped.
    out = [];
    err = [];
    expect(await keys('import-bootstrap', '--file', file)).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/skipped ops/);
    expect(everything()).not.toContain(ADMIN_KEY);
  });

  it('exits with the code as a process: 1 and <code>: <message> on stderr', async () => {
    const { stdout, stderr, code } = await promisify(execFile)(
      process.execPath,
      ['scripts/keys.ts', 'show', 'key_missing', '--url', url, '--key', ADMIN_KEY],
      { cwd: fileURLToPath(new URL('..', import.meta.url)) },
    ).then(
      (r) => ({ ...r, code: 0 }),
      (e: { stdout: string; stderr: string; code: number }) => e,
    );
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe("not_found: no key 'key_missing'");
  });
});
