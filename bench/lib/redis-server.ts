import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A redis-server this benchmark started: stopped by its PID, never by name. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * `'everysec'`: an append-only file fsynced once a second (`--appendonly yes --appendfsync everysec`),
   * the usual durable production setting, with automatic rewrites off (`--auto-aof-rewrite-percentage 0`)
   * so that no rewrite forks inside a measured run: call {@link rewriteAof} between runs instead.
   * Default: no persistence at all.
   */
  aof?: 'everysec';
}

/**
 * Starts `redis-server` on a free port, by default with persistence off (`--save "" --appendonly no`),
 * in a temporary directory, and waits until it answers PING. A process exit handler kills it by PID,
 * so an error or Ctrl-C in the benchmark does not leave it running.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'xsaga-bench-redis-'));
  const persistence =
    options.aof === 'everysec'
      ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--auto-aof-rewrite-percentage', '0']
      : ['--appendonly', 'no'];
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...persistence,
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start redis-server: is it installed and on PATH?');
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const killOnExit = () => {
    if (!exited) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`redis-server (pid ${pid}) exited at start-up`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') {
        probe.disconnect();
        break;
      }
    } catch {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      killOnExit();
      throw new Error(`redis-server (pid ${pid}) did not answer PING on port ${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    pid,
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          process.kill(pid, 'SIGTERM');
          const force = setTimeout(() => {
            if (!exited) process.kill(pid, 'SIGKILL');
          }, 5_000);
          await exitedPromise;
          clearTimeout(force);
        }
        process.off('exit', killOnExit);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/**
 * Compacts the append-only file of a server started with `aof` (BGREWRITEAOF) and waits until the
 * rewrite is done, so that every measured run starts from a small file and no rewrite runs inside it.
 * Does nothing on a server without AOF.
 */
export async function rewriteAof(redis: Redis, timeoutMs = 60_000): Promise<void> {
  const field = (info: string, name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  if (field(await redis.info('persistence'), 'aof_enabled') !== '1') return;
  await redis.bgrewriteaof();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await redis.info('persistence');
    if (field(info, 'aof_rewrite_in_progress') === '0' && field(info, 'aof_rewrite_scheduled') === '0') {
      if (field(info, 'aof_last_bgrewrite_status') !== 'ok') throw new Error('BGREWRITEAOF failed');
      return;
    }
    if (Date.now() > deadline) throw new Error(`BGREWRITEAOF did not finish within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
