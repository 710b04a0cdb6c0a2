/**
 * The web console in a real browser: Debian's chromium driven by playwright-core, against the real local stack
 * (wrangler dev's workerd edge with its static assets, an origin, the Upstash bridge over Redis). A reviewer signs in
 * with the form, labels three queued items from the keyboard (and undoes one), and finds them in the export; a
 * hostile review item renders as text; a reviewer gets the 403 page for Models; an admin starts a canary at 10% and
 * sees the policy and the charts follow the traffic; a job's progress reaches 100% and its results download; a tenant
 * admin view creates a key whose secret is shown once; sign-out ends the session for good. axe-core checks every
 * view (no serious or critical violation). Measured, not asserted as time: the review view's first render; asserted:
 * each view's transfer under 100 KB gzip. Screenshots of each view go to CONSOLE_SCREENSHOTS (default
 * .tmp/console-screenshots); a few are committed under docs/console/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import axe from 'axe-core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeClient, unwrap } from '../../client/src/index.ts';
import { adminClient } from '../../scripts/admin-client.ts';
import { type Stack, type StackKey, startStack } from '../../scripts/stack.ts';
import { drillSplit } from '../../training/src/data/drill.ts';
import { holdStackToContract } from '../contract.ts';
import { classify } from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS =
  process.env.CONSOLE_SCREENSHOTS ?? join(import.meta.dirname, '..', '..', '.tmp', 'console-screenshots');
const HOSTILE = '<img src=x onerror=alert(1)>';
const BUDGET_GZIP_BYTES = 100 * 1024;
/** Polls of what the page shows: a wrangler dev round trip is ~10-30 ms, a busy 2-core machine far more. */
const SLOW = { timeout: 15_000, interval: 200 };

let stack: Stack;
let browser: Browser;
let reviewer: StackKey;
let admin: StackKey;
/** What the run measured (printed as one JSON line at the end). */
const measured: {
  review_first_render_ms: number[];
  view_gzip_kb: Record<string, number>;
  axe: Record<string, { serious: number; critical: number; moderate: number; minor: number }>;
} = { review_first_render_ms: [], view_gzip_kb: {}, axe: {} };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no browser at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`,
    );
  }
  mkdirSync(SHOTS, { recursive: true });
  stack = await startStack({
    sharedState: 'test',
    keys: [
      { name: 'console-reviewer', scopes: ['reviewer'] },
      { name: 'console-admin', scopes: ['admin', 'infer', 'reviewer'] },
    ],
  });
  holdStackToContract(stack);
  [reviewer, admin] = stack.apiKeys as [StackKey, StackKey];
  // The review queue: the hostile text first (the oldest item), then uncertain marketplace texts.
  const first = await classify(stack.edgeUrl, admin.key, [HOSTILE], {
    'cache-control': 'no-cache, no-store',
  });
  expect(first.status).toBe(200);
  const { labelled } = drillSplit();
  const more = await classify(
    stack.edgeUrl,
    admin.key,
    labelled.slice(0, 32).map((t) => t.text),
    { 'cache-control': 'no-cache, no-store' },
  );
  expect(more.status).toBe(200);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  // Submissions reach the queue off the request path (waitUntil): wait until the hostile one is there.
  const api = adminClient({ url: stack.edgeUrl, key: admin.key });
  for (let i = 0; i < 50; i++) {
    const page = unwrap(
      await api.GET('/v1/review', { params: { query: { model: 'spam', state: 'pending' } } }),
    );
    if (page.items.some((item) => item.text === HOSTILE) && page.pending >= 6) break;
    await new Promise((r) => setTimeout(r, 200));
  }
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  console.log(`console-e2e: ${JSON.stringify(measured)}`);
});

/** A fresh browser profile; every page in it fails the test on a script error or a dialog (alert/confirm). */
async function context(options: { bypassCSP?: boolean; viewport?: { width: number; height: number } } = {}) {
  const ctx = await browser.newContext({ baseURL: stack.edgeUrl, acceptDownloads: true, ...options });
  const problems: string[] = [];
  ctx.on('page', (page) => watch(page, problems));
  return { ctx, problems };
}

function watch(page: Page, problems: string[]) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
}

async function signIn(ctx: BrowserContext, key: string, path = '/console'): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(path);
  await page.fill('#key', key);
  await Promise.all([
    page.waitForURL((u) => !u.search.includes('next=')),
    page.click('form button[type=submit]'),
  ]);
  return page;
}

/** axe-core on the page as it is: serious and critical violations fail; every count is reported. */
async function accessible(page: Page, name: string): Promise<void> {
  await page.evaluate(axe.source);
  const result = await page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is the global the injected source defines
    const run = (globalThis as any).axe.run as (ctx: Document) => Promise<{ violations: Violation[] }>;
    type Violation = { id: string; impact: string | null; nodes: { target: string[] }[] };
    const { violations } = await run(document);
    return violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  const count = (impact: string) => result.filter((v) => v.impact === impact).length;
  measured.axe[name] = {
    critical: count('critical'),
    serious: count('serious'),
    moderate: count('moderate'),
    minor: count('minor'),
  };
  expect(
    result.filter((v) => v.impact === 'serious' || v.impact === 'critical'),
    `${name}: axe violations`,
  ).toEqual([]);
}

/**
 * Loads a view in a fresh profile (an empty HTTP cache; the same session) and adds up what it transferred: the page,
 * its assets and its API answers, each gzip-compressed as Cloudflare serves them.
 */
async function transferred(from: BrowserContext, path: string, ready: string): Promise<number> {
  const ctx = await browser.newContext({ baseURL: stack.edgeUrl, storageState: await from.storageState() });
  const page = await ctx.newPage();
  const sizes: Promise<number>[] = [];
  page.on('response', (res) => {
    sizes.push(
      res.body().then(
        (b) => gzipSync(b, { level: 6 }).length,
        () => 0,
      ),
    );
  });
  await page.goto(path);
  await page.waitForSelector(ready);
  await page.waitForLoadState('networkidle');
  const total = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  await ctx.close();
  return total;
}

/** A node's text as the DOM holds it (textContent: exact, whatever the layout). */
async function text(locator: import('playwright-core').Locator, timeout = 10_000): Promise<string> {
  return (await locator.textContent({ timeout })) ?? '';
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

describe('the console in a real browser (chromium + playwright-core, real stack)', () => {
  it('renders a hostile review item as text, even with the CSP switched off (no element, no dialog)', async () => {
    const { ctx, problems } = await context({ bypassCSP: true });
    const page = await signIn(ctx, reviewer.key, '/console/review');
    expect(new URL(page.url()).pathname).toBe('/console/review');
    await page.waitForSelector('article[data-item]');
    // The oldest pending item is the hostile one; move along with j until it is on screen if another came first.
    for (let i = 0; i < 5 && (await text(page.locator('pre.item-text'))) !== HOSTILE; i++) {
      const id = await page.getAttribute('article[data-item]', 'data-item');
      await page.keyboard.press('j');
      await page.waitForFunction(
        (prev) => document.querySelector('article[data-item]')?.getAttribute('data-item') !== prev,
        id,
      );
    }
    expect(await text(page.locator('pre.item-text'))).toBe(HOSTILE);
    expect(await page.locator('main img').count()).toBe(0);
    await page.waitForTimeout(300);
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('a reviewer labels three items from the keyboard (undo included) and finds them in the export', async () => {
    const { ctx, problems } = await context();
    const page = await signIn(ctx, reviewer.key);
    // The navigation follows the scopes: Review only.
    expect(await page.locator('header nav a').allInnerTexts()).toEqual(['Review', 'API reference']);
    await accessible(page, 'home');
    await shot(page, 'home');
    // First render, measured on fresh loads (the mark is set when the first item or the empty state is drawn).
    for (let i = 0; i < 5; i++) {
      await page.goto('/console/review');
      await page.waitForSelector('article[data-item]');
      measured.review_first_render_ms.push(
        Math.round(
          await page.evaluate(() => performance.getEntriesByName('review-first-render')[0]?.startTime ?? -1),
        ),
      );
    }
    const bytes = await transferred(ctx, '/console/review', 'article[data-item]');
    measured.view_gzip_kb.review = Math.round(bytes / 102.4) / 10;
    expect(bytes).toBeLessThan(BUDGET_GZIP_BYTES);
    await accessible(page, 'review');

    const current = () => page.getAttribute('article[data-item]', 'data-item');
    const moved = (prev: string | null) =>
      page.waitForFunction(
        (p) => document.querySelector('article[data-item]')?.getAttribute('data-item') !== p,
        prev,
      );
    const labelled = new Map<string, string>();
    for (const key of ['2', '1', '2']) {
      const id = await current();
      labelled.set(await text(page.locator('pre.item-text')), key === '1' ? 'ham' : 'spam');
      await page.keyboard.press(key);
      await moved(id);
    }
    await page.waitForSelector('text=3 by you this session');
    // u takes the last label back: that item is on screen again, waiting; 1 labels it again (now ham).
    const last = [...labelled.keys()][2] as string;
    await page.keyboard.press('u');
    await page.waitForSelector('text=2 by you this session');
    expect(await text(page.locator('pre.item-text'))).toBe(last);
    expect(await text(page.locator('[data-testid=item-state]'))).toBe('Waiting for a label');
    labelled.set(last, 'ham');
    const before = await current();
    await page.keyboard.press('1');
    await moved(before);
    await page.waitForSelector('text=3 by you this session');
    await shot(page, 'review');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export labelled set' }).click(),
    ]);
    const lines = readFileSync((await download.path()) as string, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { text: string; label: string; labelled_by: string });
    for (const [text, label] of labelled) {
      expect(lines.find((l) => l.text === text)).toMatchObject({ label, labelled_by: 'console-reviewer' });
    }
    await page.waitForSelector('text=Exported');

    // A phone-sized window: nothing wider than the screen.
    const phone = await ctx.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto('/console/review');
    await phone.waitForSelector('article[data-item]');
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(phone, 'review-phone');

    // Models is not the reviewer's: the 403 page, which axe checks too.
    const forbidden = await page.goto('/console/models');
    expect(forbidden?.status()).toBe(403);
    expect(await text(page.locator('[role=alert]'))).toContain('Models needs a key with the admin scope');
    await accessible(page, 'forbidden');
    await shot(page, 'forbidden');

    // Sign-out ends the session for good: the cookie it had is worthless afterwards.
    const cookie = (await ctx.cookies()).find((c) => c.name === '__Host-console');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    await page.goto('/console');
    await Promise.all([
      page.waitForURL('**/console'),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.waitForSelector('#key');
    expect((await ctx.cookies()).some((c) => c.name === '__Host-console')).toBe(false);
    const replay = await fetch(`${stack.edgeUrl}/console/session`, {
      headers: { cookie: `${cookie?.name}=${cookie?.value}` },
    });
    expect(replay.status).toBe(401);
    await accessible(page, 'sign-in');
    await shot(page, 'sign-in');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('an admin starts a canary at 10% behind a confirmation and sees the policy and the charts follow', async () => {
    const { ctx, problems } = await context();
    const page = await signIn(ctx, admin.key, '/console/models');
    await page.waitForSelector('[data-testid=policy]');
    const policy = unwrap(
      await adminClient({ url: stack.edgeUrl, key: admin.key }).GET('/v1/admin/models/{model}/rollout', {
        params: { path: { model: 'spam' } },
      }),
    );
    const candidate = policy.versions.find((v) => v !== policy.policy.stable) as string;
    expect(candidate).toBeDefined();
    // The view opens on spam; a refresh while the form is being filled must leave the form alone.
    await expect.poll(() => text(page.locator('[data-testid=policy]')), SLOW).toContain(policy.policy.stable);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForLoadState('networkidle');
    await page.selectOption('#candidate', candidate);
    await page.selectOption('#mode', 'canary');
    await page.fill('#weight', '10');
    await page.selectOption('#stickiness', 'request');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForLoadState('networkidle');
    expect(await page.inputValue('#weight')).toBe('10');
    await page.fill('#reason', 'console e2e canary');
    await page.getByRole('button', { name: 'Apply…' }).click();
    const dialog = page.locator('dialog[open]');
    await expect.poll(() => text(dialog), SLOW).toContain('weight: 0.0% → 10.0%');
    expect(await text(dialog)).toContain(`candidate: none → ${candidate}`);
    await accessible(page, 'models-confirm');
    await dialog.getByRole('button', { name: 'Apply the change' }).click();
    await expect
      .poll(() => text(page.locator('[data-testid=policy]')), SLOW)
      .toBe(`stable ${policy.policy.stable}; candidate ${candidate} in canary at 10.0%`);

    // Traffic after the change: the candidate answers about a tenth of it; a refresh redraws table and charts.
    const client = createEdgeClient({ baseUrl: stack.edgeUrl, apiKey: admin.key });
    for (let i = 0; i < 120; i++) {
      await client.classify('spam', [`console canary traffic ${i}: cheap watches, reply now`], {
        cacheControl: 'no-cache, no-store',
      });
    }
    const row = page.locator(`tr[data-version="${candidate}"] [data-testid=requests]`);
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          await page.waitForTimeout(500);
          return Number((await text(row, 500).catch(() => '0')).replace(/,/g, ''));
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBeGreaterThan(0);
    await page.selectOption('#select-version', candidate);
    const requests = page.locator('figure[data-chart^="Requests"]');
    await requests.locator('canvas').waitFor();
    expect(await text(requests.locator('.sr-only'))).toMatch(/latest: requests [1-9]/);
    expect(await page.locator('figure.chart').count()).toBe(8);
    await accessible(page, 'models');
    await shot(page, 'models');
    const bytes = await transferred(ctx, '/console/models?model=spam', 'figure.chart canvas');
    measured.view_gzip_kb.models = Math.round(bytes / 102.4) / 10;
    expect(bytes).toBeLessThan(BUDGET_GZIP_BYTES);
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("a job's progress reaches 100% in the Jobs view and its results download", async () => {
    const client = createEdgeClient({ baseUrl: stack.edgeUrl, apiKey: admin.key });
    const texts = Array.from(
      { length: 300 },
      (_, i) => `job row ${i}: meeting notes for thursday, item ${i}`,
    );
    const job = await client.submitJob('spam', texts);
    const { ctx, problems } = await context();
    const page = await signIn(ctx, admin.key, '/console/jobs');
    const row = page.locator(`tr[data-job="${job.id}"]`);
    await row.waitFor();
    await expect
      .poll(() => row.locator('progress').getAttribute('value'), { timeout: 60_000, interval: 500 })
      .toBe('100');
    await expect.poll(() => text(row.locator('.badge')), { timeout: 20_000 }).toBe('succeeded');
    await accessible(page, 'jobs');
    await shot(page, 'jobs');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: 'Results' }).click(),
    ]);
    const rows = readFileSync((await download.path()) as string, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    expect(rows).toHaveLength(texts.length);
    const bytes = await transferred(ctx, '/console/jobs', `tr[data-job="${job.id}"]`);
    measured.view_gzip_kb.jobs = Math.round(bytes / 102.4) / 10;
    expect(bytes).toBeLessThan(BUDGET_GZIP_BYTES);
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("keys: a tenant's key is created with its secret shown once, and works; its usage is charted", async () => {
    const api = adminClient({ url: stack.edgeUrl, key: admin.key });
    const acme = unwrap(
      await api.POST('/v1/admin/tenants', {
        body: { name: 'Acme (console e2e)', tier: 'pro', models: ['*'] },
      }),
    );
    const { ctx, problems } = await context();
    const page = await signIn(ctx, admin.key, '/console/keys');
    await page.waitForSelector('#select-tenant');
    await page.selectOption('#select-tenant', acme.id);
    await page.waitForSelector(`text=Keys of ${acme.id}`);
    await page.fill('#key-name', 'made in the console');
    await page.check('#scope-reviewer');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await text(page.locator('[data-testid=secret]'));
    expect(secret).toMatch(/^sk_(live|test|dev)_[0-9A-Za-z]{36}$/);
    await page.waitForSelector('tr:has-text("made in the console")');
    const me = await fetch(`${stack.edgeUrl}/v1/review?model=spam`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(me.status).toBe(200);
    await accessible(page, 'keys');
    // The new key's traffic shows in the tenant's usage chart; the secret is not kept (a reload shows its start only).
    const sent = await classify(stack.edgeUrl, secret, ['console usage one', 'console usage two']);
    expect(sent.status).toBe(200);
    await expect
      .poll(
        async () => {
          await page.reload();
          await page.selectOption('#select-tenant', acme.id);
          await page.waitForSelector('section[aria-label="Usage"] h2');
          return page.locator('[data-testid=usage-table] td').allTextContents();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toEqual(expect.arrayContaining(['spam', '2']));
    await page.locator('figure[data-chart="Items per day and model"] canvas').waitFor();
    expect(await page.content()).not.toContain(secret);
    await shot(page, 'keys');
    const bytes = await transferred(ctx, '/console/keys', 'section[aria-label="Usage"] h2');
    measured.view_gzip_kb.keys = Math.round(bytes / 102.4) / 10;
    expect(bytes).toBeLessThan(BUDGET_GZIP_BYTES);
    expect(problems).toEqual([]);
    await ctx.close();
  });
});
