/**
 * The engine process of the recovery scenario: a durable engine (no handlers: steps run in the
 * worker process, which advances the sagas itself) that starts sagas when told. A replacement
 * started on the same prefix recovers the sagas a dead one left in `Started` (in the background,
 * from createEngine).
 *
 * Env: REDIS_URL, BENCH_PREFIX; BENCH_KILL_AFTER_CREATES=k: the process SIGKILLs itself (a crash, by
 * its own PID) as the k-th saga create of the store returns (RedisStore.prototype.create wrapped
 * here, the engine is the same createEngine({ redis })): of a burst of starts, the sagas created
 * after that point stay in `Started` and the ones created before it may be saved `Pending` with
 * their first step job never enqueued. A kill from another process comes too late to leave anything
 * to recover: a burst of starts is written to Redis within tens of ms (tried: killed by the bench
 * when 30% of the starts had returned, the engine had left no saga in Started).
 * IPC in: { type: 'start', runId, count } starts sagas `<runId>-0` .. `<runId>-<count - 1>`, all at
 * once; { type: 'start', runId, indices } starts those indices only.
 * IPC out: ready; started { count } when every start of a `start` message has returned.
 */
import { createEngine, RedisStore } from '../../src/index.ts';
import { failChild, readyUntilStopped, requireEnv, tell } from '../lib/child.ts';
import { benchTrip } from '../lib/saga.ts';

try {
  const killAfter = Number(process.env.BENCH_KILL_AFTER_CREATES ?? 0);
  if (killAfter > 0) {
    const create = RedisStore.prototype.create;
    let created = 0;
    RedisStore.prototype.create = async function (this: RedisStore, ...args: Parameters<RedisStore['create']>) {
      const result = await create.apply(this, args);
      if (++created === killAfter) process.kill(process.pid, 'SIGKILL');
      return result;
    };
  }
  const engine = createEngine({
    redis: { connection: requireEnv('REDIS_URL'), prefix: requireEnv('BENCH_PREFIX') },
    sagas: [benchTrip],
  });
  engine.on('error', (error) => tell({ type: 'log', message: `engine ${process.pid}: ${String(error)}` }));

  process.on('message', (message: { type: string; runId: string; count?: number; indices?: number[] }) => {
    if (message.type !== 'start') return;
    const indices = message.indices ?? Array.from({ length: message.count ?? 0 }, (_, i) => i);
    const starts = indices.map((i) =>
      engine.start(benchTrip, { tripId: `t${i}` }, { sagaId: `${message.runId}-${i}` }),
    );
    Promise.all(starts).then(
      () => tell({ type: 'started', count: indices.length }),
      (error: unknown) => failChild(error),
    );
  });
  readyUntilStopped(async () => {
    await engine.close();
  });
} catch (error) {
  failChild(error);
}
