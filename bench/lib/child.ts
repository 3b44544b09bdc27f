import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Messages children send to the benchmark over IPC: always an object with a `type`. */
export interface ChildMessage {
  type: string;
  [field: string]: unknown;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Children this process started and has not seen exit: killed by PID if the benchmark dies. */
const live = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of live) {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

/** Options of {@link spawnChild}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  /** Extra node flags (e.g. `--expose-gc`). `BENCH_CHILD_NODE_FLAGS` adds more (e.g. `--cpu-prof`). */
  nodeFlags?: string[];
}

/** Runs `bench/children/<name>.ts` with `node --import tsx`, an IPC channel, and stderr passed through. */
export function spawnChild(name: string, options: SpawnOptions = {}): ChildProcess {
  const file = fileURLToPath(new URL(`../children/${name}.ts`, import.meta.url));
  const extra = (process.env.BENCH_CHILD_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ...extra, '--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** True once the child has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves with the next message of `type`; rejects on an `error` message, an early exit, or the timeout. */
export function nextMessage<T extends ChildMessage = ChildMessage>(
  child: ChildProcess,
  type: string,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`child ${child.pid}: ${String(message.message)}`));
      } else if (message.type === type) {
        cleanup();
        resolve(message as T);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`child ${child.pid} exited (code ${code}, signal ${signal}) before sending "${type}"`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`child ${child.pid} sent no "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** SIGTERM by PID, SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const force = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(force);
}

/** SIGKILL by PID (a crash), resolves when the child has exited. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** For children: sends a message to the benchmark (no-op when not started with IPC). */
export function tell(message: ChildMessage): void {
  process.send?.(message);
}

/**
 * For children: resolves with the benchmark's next message of `type` (a step of a handshake, e.g.
 * "measure now"); rejects if the benchmark goes away first.
 */
export function fromParent<T extends ChildMessage = ChildMessage>(type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
    };
    const onMessage = (message: ChildMessage) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onDisconnect = () => {
      cleanup();
      reject(new Error(`the benchmark went away before sending "${type}"`));
    };
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  });
}

/**
 * For children: closes what `close` closes and exits on SIGTERM or when the benchmark goes away,
 * then tells the benchmark this child is ready.
 */
export function readyUntilStopped(close: () => Promise<void>): void {
  const shutdown = async () => {
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('disconnect', () => void shutdown());
  tell({ type: 'ready' });
}

/** For children: reports an error to the benchmark and exits non-zero. */
export function failChild(error: unknown): never {
  tell({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}

/** For children: the value of a required environment variable. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}
