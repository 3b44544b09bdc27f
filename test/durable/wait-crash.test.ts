/**
 * An engine process killed while its saga waits for a person. The file is also the process that
 * dies: forked with XSAGA_WAIT_CRASH_ROLE=engine it runs that engine, starts one saga and reports
 * once the saga is parked at its wait. A parked saga has no job and nothing in memory, only its
 * record and its deadline in the timer set, so what another process does afterwards is all that
 * counts: the approval sent to a fresh engine completes the saga (a defined one, and an agent's
 * dynamic one that a new agent then carries on), and a deadline that passes after the death is
 * fired by the fresh process, rolling back without any signal.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type CompensationContext,
  createEngine,
  createWorker,
  defineDynamicSaga,
  defineHandlers,
  defineSaga,
  type Engine,
  type StepContext,
  silentLogger,
} from '../../src/index.ts';
import { bullMqPrefix } from '../../src/persistence/redis-keys.ts';
import { dropPrefix, exited, REDIS_URL } from './redis-helpers.ts';

const SELF = fileURLToPath(import.meta.url);
/** The deadline of the wait that expires: short enough to pass during the test, long enough to outlive the kill. */
const SHORT_DEADLINE_MS = 2_000;

const approval = z.object({ approved: z.boolean(), by: z.string() });
type Approval = z.infer<typeof approval>;

/** Reserve, wait for a person, charge. */
const sagaWaiting = (name: string, timeoutMs: number) =>
  defineSaga({
    name,
    version: 1,
    input: z.object({}),
    steps: [
      { name: 'reserve' },
      {
        wait: 'approval',
        signal: approval,
        timeoutMs,
        onTimeout: 'compensate',
        reject: (answer: Approval) => !answer.approved,
      },
      { name: 'charge', kind: 'pivot', retry: { attempts: 1 } },
    ],
  });

/** Every handler call, as `<idempotency key>@<process>`, in one Redis list shared by both processes. */
const callsKey = (prefix: string) => `${prefix}:calls`;

type Who = 'dying' | 'restarted';
type Case = 'approved' | 'expiring' | 'agent';

/**
 * The saga of a case and its handlers, which count each call in Redis: `approved` waits three days
 * (the approval comes first), `expiring` two seconds (the deadline comes first), `agent` is a
 * dynamic saga whose agent appends `reserve`, the approval, then `charge`.
 */
function sagaOf(which: Case, redis: Redis, prefix: string, who: Who) {
  const record = (ctx: StepContext | CompensationContext) =>
    redis.rpush(callsKey(prefix), `${ctx.idempotencyKey}@${who}`);
  const reserve = {
    run: async (ctx: StepContext) => {
      await record(ctx);
      return { hold: ctx.idempotencyKey };
    },
    compensate: async (ctx: CompensationContext) => {
      await record(ctx);
    },
  };
  const charge = async (ctx: StepContext) => {
    await record(ctx);
    return { charged: true };
  };
  if (which === 'agent') {
    const saga = defineDynamicSaga({
      name: 'wait-crash-agent',
      version: 1,
      input: z.object({}),
      idleTimeoutMs: 60_000,
      waits: { approval: { signal: approval, timeoutMs: 3 * 24 * 3_600_000, reject: (a: Approval) => !a.approved } },
      tools: {
        reserve: { args: z.object({}), ...reserve },
        charge: { kind: 'pivot', args: z.object({}), retry: { attempts: 1 }, run: charge },
      },
    });
    return { saga, handlers: saga.handlers };
  }
  const saga = sagaWaiting(`wait-crash-${which}`, which === 'approved' ? 3 * 24 * 3_600_000 : SHORT_DEADLINE_MS);
  return { saga, handlers: defineHandlers(saga, { reserve, charge: { run: charge } }) };
}

/** What the dying engine process tells the test. */
type ChildMessage = { type: 'parked' } | { type: 'error'; message: string };

/** The engine process that dies: runs `reserve`, parks at the approval, says so, and idles. */
async function runDyingEngine(): Promise<void> {
  const prefix = process.env.PREFIX as string;
  const which = process.env.CASE as Case;
  const sagaId = process.env.SAGA_ID as string;
  const { saga, handlers } = sagaOf(which, new Redis(REDIS_URL), prefix, 'dying');
  const engine = createEngine({
    redis: { connection: REDIS_URL, prefix },
    handlers: { [saga.name]: handlers },
    logger: silentLogger,
  });
  await engine.start(saga, {}, { sagaId });
  if (which === 'agent') {
    // The agent: its contact step, then the wait, whose appendStep resolves only with the signal
    // (never, here: this process dies first).
    await engine.appendStep(sagaId, { tool: 'reserve', args: {} });
    void engine.appendStep(sagaId, { wait: 'approval' }).catch(() => undefined);
  }
  for (;;) {
    const view = await engine.get(sagaId);
    if (view.steps.some((s) => (s.tool ?? s.name) === 'approval' && s.status === 'waiting')) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  process.send?.({ type: 'parked' } satisfies ChildMessage);
}

if (process.env.XSAGA_WAIT_CRASH_ROLE === 'engine') {
  runDyingEngine().catch((error: unknown) => {
    process.send?.({ type: 'error', message: String(error) } satisfies ChildMessage);
    process.exit(1);
  });
} else {
  describe('an engine process killed while its saga waits for a signal', () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** Forks the dying engine for `which`, waits until its saga is parked, then SIGKILLs it (by its PID). */
    async function parkAndKill(which: Case, prefix: string, sagaId: string): Promise<void> {
      const child: ChildProcess = fork(SELF, [], {
        execArgv: ['--import', 'tsx'],
        env: {
          ...process.env,
          XSAGA_WAIT_CRASH_ROLE: 'engine',
          REDIS_URL,
          PREFIX: prefix,
          CASE: which,
          SAGA_ID: sagaId,
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      cleanups.push(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited(child);
      });
      await new Promise<void>((resolve, reject) => {
        child.on('message', (message: ChildMessage) => {
          if (message.type === 'parked') resolve();
          else reject(new Error(`engine process failed: ${message.message}`));
        });
        child.once('exit', (code, signal) => reject(new Error(`engine process exited early (${code ?? signal})`)));
      });
      child.kill('SIGKILL');
      await exited(child);
      expect(child.signalCode).toBe('SIGKILL');
    }

    /** A fresh engine and a separate worker on the same prefix, in this process. */
    function restart(which: Case, prefix: string, redis: Redis): Engine {
      const { saga, handlers } = sagaOf(which, redis, prefix, 'restarted');
      const engine = createEngine({ redis: { connection: REDIS_URL, prefix }, sagas: [saga], logger: silentLogger });
      const worker = createWorker({
        connection: REDIS_URL,
        prefix,
        sagas: [saga],
        handlers: { [saga.name]: handlers },
        logger: silentLogger,
      });
      cleanups.push(
        () => engine.close(),
        () => worker.close(),
      );
      return engine;
    }

    /** A prefix of the test's own, a Redis client, and what the dead process left behind. */
    async function setUp() {
      const prefix = `xsaga-wcrash-${randomUUID()}`;
      const redis = new Redis(REDIS_URL);
      cleanups.push(
        () => dropPrefix(prefix),
        () => redis.quit(),
      );
      const left = async (sagaId: string) => {
        const steps = new Queue('xsaga-steps', { connection: { url: REDIS_URL }, prefix: bullMqPrefix(prefix) });
        const jobs = await steps.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        await steps.close();
        return {
          state: await redis.hget(`${prefix}:saga:{${sagaId}}`, 'state'),
          timers: await redis.zrange(`${prefix}:timers`, 0, -1, 'WITHSCORES'),
          jobs: Object.values(jobs).reduce((sum, n) => sum + n, 0),
        };
      };
      return { prefix, redis, left };
    }

    it('completes on an approval sent to a fresh engine, each step run once under its key', async () => {
      const { prefix, redis, left } = await setUp();
      const sagaId = 'parked-approved';
      await parkAndKill('approved', prefix, sagaId);

      // Nothing runs for the saga now: its record and its deadline are all there is.
      const parked = await left(sagaId);
      expect(parked.state).toBe('Pending');
      expect(parked.timers[0]).toBe(`${sagaId}~approval~wait`);
      expect(parked.timers).toHaveLength(2);
      expect(parked.jobs).toBe(0);

      const engine = restart('approved', prefix, redis);
      const answer = { approved: true, by: 'ops@example.com' };
      expect(await engine.signal(sagaId, 'approval', answer, { signalId: 'mail-1' })).toEqual({
        duplicate: false,
        state: 'Pending',
      });
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Completed');
      expect(view.completed).toEqual(['reserve', 'approval', 'charge']);
      expect(view.steps.find((s) => s.name === 'approval')?.result).toEqual(answer);
      // `reserve` ran in the dead process and not again; `charge` once, in the new one.
      expect(await redis.lrange(callsKey(prefix), 0, -1)).toEqual([
        `${sagaId}~reserve~run@dying`,
        `${sagaId}~charge~run@restarted`,
      ]);
      // The wait's deadline left the timer set with the signal: nothing fires later.
      expect(await redis.zrange(`${prefix}:timers`, 0, -1)).toEqual([]);
    }, 30_000);

    it("lets a new agent carry on a dynamic saga that the approval resumed after its engine's death", async () => {
      const { prefix, redis, left } = await setUp();
      const sagaId = 'parked-agent';
      await parkAndKill('agent', prefix, sagaId);
      const parked = await left(sagaId);
      expect(parked.state).toBe('Pending');
      expect(parked.timers[0]).toBe(`${sagaId}~approval-2~wait`);
      expect(parked.jobs).toBe(0);

      // The old agent died with its process: a new one reads where the saga stands and goes on.
      const engine = restart('agent', prefix, redis);
      const answer = { approved: true, by: 'ops@example.com' };
      await engine.signal(sagaId, 'approval', answer, { signalId: 'mail-1' });
      const before = await engine.get(sagaId);
      expect(before.steps.map((s) => [s.name, s.status])).toEqual([
        ['reserve-1', 'completed'],
        ['approval-2', 'completed'],
      ]);
      expect(await engine.appendStep(sagaId, { tool: 'charge', args: {} })).toMatchObject({
        step: 'charge-3',
        status: 'completed',
        state: 'Pending',
      });
      await engine.complete(sagaId);
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Completed');
      expect(view.steps.find((s) => s.name === 'approval-2')?.result).toEqual(answer);
      expect(await redis.lrange(callsKey(prefix), 0, -1)).toEqual([
        `${sagaId}~reserve-1~run@dying`,
        `${sagaId}~charge-3~run@restarted`,
      ]);
    }, 30_000);

    it('rolls back when the deadline passes after the death: a fresh process fires it, no signal sent', async () => {
      const { prefix, redis, left } = await setUp();
      const sagaId = 'parked-expiring';
      await parkAndKill('expiring', prefix, sagaId);
      const parked = await left(sagaId);
      expect(parked.state).toBe('Pending');
      expect(parked.timers[0]).toBe(`${sagaId}~approval~wait`);
      const deadline = Number(parked.timers[1]);

      const engine = restart('expiring', prefix, redis);
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      // Not before its time, and by the only processes alive: this test's engine and worker.
      expect(Date.now()).toBeGreaterThanOrEqual(deadline);
      expect(view.state).toBe('Failed');
      expect(view.failure?.step).toBe('approval');
      expect(view.failure?.error?.code).toBe('WAIT_DEADLINE');
      expect(view.compensated).toEqual(['reserve']);
      expect(await redis.lrange(callsKey(prefix), 0, -1)).toEqual([
        `${sagaId}~reserve~run@dying`,
        `${sagaId}~reserve~compensate@restarted`,
      ]);
    }, 30_000);
  });
}
