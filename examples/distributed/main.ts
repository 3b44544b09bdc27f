/**
 * The distributed example: one engine process and two worker processes share a Redis prefix and run
 * 100 trip sagas against unreliable participants (transient failures, declined cards, failing
 * cancellations). The coordinator (this file) spawns them, starts the sagas through the engine
 * process, waits for every saga to settle, prints a summary, then stops the processes with SIGTERM
 * and deletes the prefix's keys. Exits 0 only if all 100 sagas settled.
 *
 *   npm run example:distributed
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { EngineCommand, EngineMessage } from './engine.ts';

const SAGAS = 100;
const SETTLE_TIMEOUT_MS = 120_000;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `xsaga-demo-${randomUUID().slice(0, 8)}`;
const root = fileURLToPath(new URL('../..', import.meta.url));

function launch(name: string): ChildProcess {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    env: { ...process.env, XSAGA_PREFIX: prefix, REDIS_URL: redisUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`${name} process ${child.pid} exited early (code ${code}, signal ${signal})`);
  });
  return child;
}

function nextMessage<T extends EngineMessage['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<EngineMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: EngineMessage) => {
      if (message.type === 'error') reject(new Error(message.message));
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message as Extract<EngineMessage, { type: T }>);
    };
    child.on('message', onMessage);
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function dropPrefix(redis: Redis): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

let stopping = false;
const began = Date.now();
console.log(`prefix ${prefix}: starting 1 engine process and 2 worker processes`);
const engine = launch('engine');
const workers = [launch('worker'), launch('worker')];
const children = [engine, ...workers];
let ok = false;
try {
  await Promise.all(children.map((child) => nextMessage(child, 'ready')));

  const sagas = Array.from({ length: SAGAS }, (_, i) => ({ sagaId: `${prefix}-trip-${i}`, tripId: `t-${i}` }));
  let started = 0;
  const allStarted = new Promise<void>((resolve, reject) => {
    const onMessage = (message: EngineMessage) => {
      if (message.type === 'error') reject(new Error(message.message));
      if (message.type === 'started' && ++started === SAGAS) {
        engine.off('message', onMessage);
        resolve();
      }
    };
    engine.on('message', onMessage);
  });
  engine.send({ type: 'start', sagas } satisfies EngineCommand);
  await allStarted;
  console.log(`started ${SAGAS} trip sagas in ${Date.now() - began} ms; waiting for them to settle`);

  const settled = nextMessage(engine, 'settled');
  engine.send({
    type: 'await',
    sagaIds: sagas.map((s) => s.sagaId),
    timeoutMs: SETTLE_TIMEOUT_MS,
  } satisfies EngineCommand);
  const { results } = await settled;

  const count = (state: string) => results.filter((r) => r.state === state).length;
  const completed = count('Completed');
  const failed = count('Failed');
  const escalated = count('Escalated');
  const unsettled = results.filter((r) => !['Completed', 'Failed', 'Escalated'].includes(r.state));
  console.log(`completed: ${completed}, failed-and-compensated: ${failed}, escalated: ${escalated}`);
  console.log(`total: ${completed + failed + escalated} of ${SAGAS} in ${Date.now() - began} ms`);
  for (const r of unsettled) console.error(`  not settled: ${r.sagaId}: ${r.state}`);

  // The participants' own ledger: calls may repeat (at-least-once), applied effects must not.
  const redis = new Redis(redisUrl);
  const ledger = await redis.hgetall(`${prefix}:ledger`);
  await redis.quit();
  const calls = Object.entries(ledger).filter(([field]) => field.startsWith('calls|'));
  const applied = Object.entries(ledger).filter(([field]) => field.startsWith('applied|'));
  const sum = (entries: Array<[string, string]>) => entries.reduce((n, [, v]) => n + Number(v), 0);
  const duplicates = applied.reduce((n, [, v]) => n + Math.max(0, Number(v) - 1), 0);
  console.log(`participant ledger: ${sum(calls)} calls, ${sum(applied)} effects applied, ${duplicates} applied twice`);

  ok = unsettled.length === 0 && completed + failed + escalated === SAGAS && duplicates === 0;
} catch (error) {
  console.error(error);
} finally {
  stopping = true;
  await Promise.all(children.map(stop));
  const redis = new Redis(redisUrl);
  const deleted = await dropPrefix(redis);
  await redis.quit();
  console.log(`stopped ${children.length} processes with SIGTERM, deleted ${deleted} keys under ${prefix}`);
}
process.exit(ok ? 0 : 1);
