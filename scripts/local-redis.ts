/**
 * Finds a Redis for `npm start`: the server at `url` when it answers PING, otherwise a `redis-server` started on
 * a free loopback port (nothing persisted), otherwise undefined.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createClient } from 'redis';

export interface LocalRedis {
  url: string;
  /** Human-readable origin of this Redis, for the start banner. */
  describe: string;
  /** Stops a redis-server this module started; a no-op for a server that was already running. */
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const client = createClient({ url, RESP: 2, socket: { connectTimeout: 500, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    if (client.isOpen) await client.quit().catch(() => {});
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function findRedis(url: string, redisServer = 'redis-server'): Promise<LocalRedis | undefined> {
  if (await answers(url)) return { url, describe: `Redis at ${url}`, stop: async () => {} };
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(
      redisServer,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve());
    });
  } catch {
    return undefined;
  }
  const spawnedUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 40 && !(await answers(spawnedUrl)); i++) await new Promise((r) => setTimeout(r, 100));
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  if (!(await answers(spawnedUrl))) {
    await stop();
    return undefined;
  }
  return { url: spawnedUrl, describe: `redis-server started on port ${port}`, stop };
}
