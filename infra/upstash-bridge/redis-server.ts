/**
 * A Redis for tests: a database of its own on the shared server at 127.0.0.1:6379 when one answers, otherwise a
 * redis-server spawned on a free port and stopped afterwards.
 *
 * Sharing: tests run in parallel (vitest workers, other engineers' runs), so each caller claims a whole database
 * (1..15) with a lock key `SET __test_redis_lock__ <owner> NX` taken only on an EMPTY database, keeps the lock
 * alive while it runs, and FLUSHDBs that database, and only that one, on stop(). Database 0 is never touched.
 * When every database is busy (or holds someone else's leftovers) the helper spawns its own server instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';

export interface TestRedis {
  /** `redis://host:port/db`, ready for `startUpstashBridge({redisUrl})` or a node `redis` client. */
  url: string;
  /** The database this test owns. */
  db: number;
  /** A random key prefix unique to this claim, for tests that want one more layer of isolation. */
  prefix: string;
  /** True when the helper spawned its own redis-server. */
  spawned: boolean;
  /** Spawned: the server's child process (tests may kill it to simulate an outage). Shared: undefined. */
  process: ChildProcess | undefined;
  /** Frees the database (FLUSHDB on the owned db) or stops the spawned server. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisForTestsOptions {
  /** The shared server tried first. @default 'redis://127.0.0.1:6379' */
  sharedUrl?: string;
  /** Skip the shared server and always spawn a redis-server. @default false */
  spawn?: boolean;
  /** The redis-server executable. @default 'redis-server' */
  redisServerPath?: string;
  /** How long a database lock lives without being refreshed (a crashed test frees it after this). @default 600000 */
  lockTtlMs?: number;
}

const LOCK_KEY = '__test_redis_lock__';

export async function startRedisForTests(options: StartRedisForTestsOptions = {}): Promise<TestRedis> {
  const sharedUrl = options.sharedUrl ?? 'redis://127.0.0.1:6379';
  const lockTtlMs = options.lockTtlMs ?? 600_000;
  if (!Number.isInteger(lockTtlMs) || lockTtlMs < 1000) {
    throw new TypeError(`lockTtlMs must be an integer >= 1000, got ${String(options.lockTtlMs)}`);
  }
  if (options.spawn !== true) {
    const claimed = await claimSharedDatabase(sharedUrl, lockTtlMs);
    if (claimed !== undefined) return claimed;
  }
  return spawnRedisServer(options.redisServerPath ?? 'redis-server');
}

/** Starts the shared server's client with a short timeout and no retries; undefined when it does not answer. */
async function connectOnce(url: string) {
  const client = createClient({
    url,
    RESP: 2,
    socket: { connectTimeout: 500, reconnectStrategy: false },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch {
    client.destroy();
    return undefined;
  }
}

async function claimSharedDatabase(sharedUrl: string, lockTtlMs: number): Promise<TestRedis | undefined> {
  const probe = await connectOnce(sharedUrl);
  if (probe === undefined) return undefined;
  let databases = 16;
  try {
    const reply = (await probe.sendCommand(['CONFIG', 'GET', 'databases'])) as string[];
    const n = Number(reply[1]);
    if (Number.isInteger(n) && n > 1) databases = n;
  } catch {
    // CONFIG may be disabled: assume the default 16.
  } finally {
    probe.destroy();
  }
  const owner = `${process.pid}:${randomBytes(8).toString('hex')}`;
  const candidates = Array.from({ length: databases - 1 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
  const base = new URL(sharedUrl);
  for (const db of candidates) {
    base.pathname = `/${db}`;
    const url = base.toString();
    const client = await connectOnce(url);
    if (client === undefined) return undefined;
    const locked: unknown = await client.sendCommand(['SET', LOCK_KEY, owner, 'NX', 'PX', String(lockTtlMs)]);
    if (locked !== 'OK') {
      client.destroy();
      continue;
    }
    if (((await client.sendCommand(['DBSIZE'])) as unknown) !== 1) {
      // Someone's data is here without a lock: not ours to flush. Release our lock and look further.
      await client.sendCommand(['EVAL', RELEASE_SCRIPT, '1', LOCK_KEY, owner]);
      client.destroy();
      continue;
    }
    const refresh = setInterval(
      () => {
        client.sendCommand(['PEXPIRE', LOCK_KEY, String(lockTtlMs)]).catch(() => {});
      },
      Math.max(500, Math.floor(lockTtlMs / 3)),
    );
    refresh.unref();
    let stopping: Promise<void> | undefined;
    return {
      url,
      db,
      prefix: `t${randomBytes(6).toString('hex')}:`,
      spawned: false,
      process: undefined,
      stop() {
        stopping ??= (async () => {
          clearInterval(refresh);
          try {
            // Flush only while we still hold the lock: the database is ours.
            if (((await client.sendCommand(['GET', LOCK_KEY])) as unknown) === owner)
              await client.sendCommand(['FLUSHDB']);
          } finally {
            client.destroy();
          }
        })();
        return stopping;
      },
    };
  }
  return undefined;
}

const RELEASE_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/** A free TCP port on loopback (there is a small window between closing the probe and the spawn using it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function spawnRedisServer(executable: string): Promise<TestRedis> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
    const child = spawn(
      executable,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    let spawnFailed = false;
    // 'exit' does not fire when the executable could not be spawned at all; 'error' does.
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        lastError = err;
        spawnFailed = true;
        resolve();
      });
    });
    const url = `redis://127.0.0.1:${port}/0`;
    if (await waitForPing(url, child, 5000, () => spawnFailed)) {
      let stopping: Promise<void> | undefined;
      return {
        url,
        db: 0,
        prefix: `t${randomBytes(6).toString('hex')}:`,
        spawned: true,
        process: child,
        stop() {
          stopping ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
              await exited;
              clearTimeout(timer);
            }
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
    if (child.exitCode === null && !spawnFailed) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    if (spawnFailed) break;
    lastError ??= new Error(`redis-server did not answer on port ${port}`);
  }
  throw new Error(`could not start ${executable}: ${(lastError as Error).message}`, { cause: lastError });
}

async function waitForPing(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  failed: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (failed() || child.exitCode !== null || child.signalCode !== null) return false;
    const client = await connectOnce(url);
    if (client !== undefined) {
      try {
        if (((await client.sendCommand(['PING'])) as unknown) === 'PONG') return true;
      } catch {
        // not ready yet (loading)
      } finally {
        client.destroy();
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
