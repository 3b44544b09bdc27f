/**
 * An engine process whose worker dies with a parallel group's members in flight. The file is also
 * the process that dies: forked with XSAGA_GROUP_CRASH_ROLE=engine it runs that engine (as Node's
 * own tests fork themselves) so both sides share one saga and one participant.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type CompensationContext,
  createEngine,
  defineHandlers,
  defineSaga,
  type Engine,
  SagaEvents,
  type StepContext,
  silentLogger,
  type TransitionEntry,
} from '../../src/index.ts';
import { dropPrefix, exited, REDIS_URL } from './redis-helpers.ts';

const SELF = fileURLToPath(import.meta.url);
const SAGAS = 3;
const MEMBERS = ['hotel', 'car', 'flight'] as const;
/** Short locks, so the survivor takes the dead process's jobs over in about a second. */
const LOCK_MS = 1_000;

const groupTrip = defineSaga({
  name: 'group-crash',
  version: 1,
  input: z.object({}),
  steps: [
    { name: 'hold' },
    { group: 'reserve', parallel: MEMBERS.map((name) => ({ name })), policy: 'all' },
    { name: 'confirm' },
  ],
});

/** What the engine process tells the test. */
type ChildMessage = { type: 'called' | 'persisted'; sagaId: string; step: string };

/**
 * KEYS[1] ledger hash, KEYS[2] hash idempotency key -> the value first applied under it.
 * ARGV[1] idempotency key, ARGV[2] the effect's value.
 * Applies the effect on the first call with a key only (counted in `applied|<key>`) and returns the
 * value stored under the key: a repeated call gets the first one.
 */
const APPLY = `
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'applied|' .. ARGV[1], 1)
  return ARGV[2]
end
return redis.call('HGET', KEYS[2], ARGV[1])
`;

const ledgerKey = (prefix: string) => `${prefix}:ledger`;

/**
 * A participant that dedupes by idempotency key, and the saga's handlers calling it, counting
 * every call by key (`calls|<key>`); `who` names who applied an effect. In the `dying` process `hotel` applies its effect and then hangs
 * (its answer is lost), `car` hangs before applying anything, `flight` completes.
 */
function participantHandlers(
  redis: Redis,
  prefix: string,
  who: 'dying' | 'survivor',
  called?: (ctx: StepContext) => void,
) {
  const apply = async (ctx: StepContext) =>
    String(
      await redis.eval(
        APPLY,
        2,
        ledgerKey(prefix),
        `${ledgerKey(prefix)}:keys`,
        ctx.idempotencyKey,
        `${ctx.step}@${who}`,
      ),
    );
  const hang = () => new Promise<never>(() => undefined);
  const step = {
    run: async (ctx: StepContext) => {
      // Every call is counted by key before anything else, effect or not.
      await redis.hincrby(ledgerKey(prefix), `calls|${ctx.idempotencyKey}`, 1);
      called?.(ctx);
      if (who === 'dying' && ctx.step === 'car') return hang();
      const booking = await apply(ctx);
      if (who === 'dying' && ctx.step === 'hotel') return hang();
      return { booking };
    },
    compensate: async (ctx: CompensationContext) => {
      await redis.hincrby(ledgerKey(prefix), `calls|${ctx.idempotencyKey}`, 1);
    },
  };
  return defineHandlers(groupTrip, { hold: step, hotel: step, car: step, flight: step, confirm: step });
}

/** The engine process that dies: starts the sagas, runs their steps, reports what it reached. */
async function runDyingEngine(): Promise<void> {
  const prefix = process.env.PREFIX as string;
  const tell = (message: ChildMessage) => process.send?.(message);
  const redis = new Redis(REDIS_URL);
  const engine = createEngine({
    redis: { connection: REDIS_URL, prefix, lockDurationMs: LOCK_MS },
    handlers: {
      [groupTrip.name]: participantHandlers(redis, prefix, 'dying', (ctx) =>
        tell({ type: 'called', sagaId: ctx.sagaId, step: ctx.step }),
      ),
    },
    logger: silentLogger,
  });
  // Told once the member's outcome is saved, not when its handler returns.
  engine.on('transition', (entry: TransitionEntry) => {
    if (entry.step && entry.event === SagaEvents.stepDone)
      tell({ type: 'persisted', sagaId: entry.sagaId, step: entry.step });
  });
  for (let i = 0; i < SAGAS; i++) await engine.start(groupTrip, {}, { sagaId: `group-crash-${i}` });
}

if (process.env.XSAGA_GROUP_CRASH_ROLE === 'engine') {
  runDyingEngine().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  describe('an engine process killed while a parallel group runs', () => {
    const prefix = `xsaga-gcrash-${randomUUID()}`;
    const sagaIds = Array.from({ length: SAGAS }, (_, i) => `group-crash-${i}`);
    const redis = new Redis(REDIS_URL);
    let child: ChildProcess | undefined;
    let survivor: Engine | undefined;
    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (child) await exited(child);
      await survivor?.close();
      await redis.quit();
      await dropPrefix(prefix);
    });

    it('is finished by another engine: every member settles, each effect applied once per idempotency key', async () => {
      // Wait for the dying engine to reach, in every saga: `flight` done and saved, `hotel` applied
      // and hanging, `car` hanging before its effect.
      const called = new Set<string>();
      const persisted = new Set<string>();
      const reached = () =>
        sagaIds.every((id) => persisted.has(`${id}/flight`) && called.has(`${id}/hotel`) && called.has(`${id}/car`));
      child = fork(SELF, [], {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, XSAGA_GROUP_CRASH_ROLE: 'engine', REDIS_URL, PREFIX: prefix },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const dying = child;
      await new Promise<void>((resolve, reject) => {
        dying.on('message', (message: ChildMessage) => {
          if (message.type === 'called') called.add(`${message.sagaId}/${message.step}`);
          if (message.type === 'persisted') persisted.add(`${message.sagaId}/${message.step}`);
          if (reached()) resolve();
        });
        dying.once('exit', (code, signal) => reject(new Error(`engine process exited early (${code ?? signal})`)));
      });
      // The hotel's effect happened in the dying process; the car's did not.
      const before = await redis.hgetall(ledgerKey(prefix));
      for (const id of sagaIds) {
        expect(before[`calls|${id}~hotel~run`]).toBe('1');
        expect(before[`calls|${id}~car~run`]).toBe('1');
        expect(before[`applied|${id}~hotel~run`]).toBe('1');
        expect(before[`applied|${id}~car~run`]).toBeUndefined();
      }

      dying.kill('SIGKILL');
      await exited(dying);
      expect(dying.signalCode).toBe('SIGKILL');

      // Another engine on the same prefix takes over the stalled member jobs and finishes.
      survivor = createEngine({
        redis: { connection: REDIS_URL, prefix, lockDurationMs: LOCK_MS },
        handlers: { [groupTrip.name]: participantHandlers(redis, prefix, 'survivor') },
        sagas: [groupTrip],
        logger: silentLogger,
      });
      const engine = survivor;
      const views = await Promise.all(sagaIds.map((id) => engine.waitFor(id, { timeoutMs: 20_000 })));

      const ledger = await redis.hgetall(ledgerKey(prefix));
      for (const view of views) {
        const id = view.sagaId;
        expect(view.state).toBe('Completed');
        expect(view.compensated).toEqual([]);
        expect([...view.completed].sort()).toEqual(['car', 'confirm', 'flight', 'hold', 'hotel']);
        // Each step's effect applied exactly once under its one key, whoever applied it.
        for (const step of groupTrip.steps.map((s) => s.name)) {
          expect(ledger[`applied|${id}~${step}~run`], `${id} ${step}`).toBe('1');
          expect(ledger[`calls|${id}~${step}~compensate`], `${id} ${step} compensated`).toBeUndefined();
        }
        // The members in flight ran again under the same key; the one whose outcome was saved did not.
        expect(ledger[`calls|${id}~hotel~run`]).toBe('2');
        expect(ledger[`calls|${id}~car~run`]).toBe('2');
        expect(ledger[`calls|${id}~flight~run`]).toBe('1');
        expect(ledger[`calls|${id}~hold~run`]).toBe('1');
        expect(ledger[`calls|${id}~confirm~run`]).toBe('1');
        // The hotel's lost answer came back from the participant: the dying process's booking.
        const result = (step: string) => view.steps.find((s) => s.name === step)?.result;
        expect(result('hotel')).toEqual({ booking: 'hotel@dying' });
        expect(result('car')).toEqual({ booking: 'car@survivor' });
        expect(result('flight')).toEqual({ booking: 'flight@dying' });
        expect(result('confirm')).toEqual({ booking: 'confirm@survivor' });
      }
      // Every call and effect was under one of these sagas' keys.
      const keys = Object.keys(ledger).map((field) => field.slice(field.indexOf('|') + 1));
      for (const key of keys) expect(sagaIds.some((id) => key.startsWith(`${id}~`))).toBe(true);
    }, 30_000);
  });
}
