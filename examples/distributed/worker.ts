/**
 * A step worker process of the distributed example: runs the trip saga's steps from the BullMQ
 * step queue. Its participants (airline, hotel, car rental, payment provider) live in Redis and are
 * unreliable on purpose: some calls fail transiently, some cards are declined, some cancellations
 * fail. Each participant dedupes by idempotency key and keeps a ledger, so a repeated call (a retry,
 * a job redelivered after a crash) is counted as a call but never applied twice.
 *
 *   XSAGA_PREFIX=xsaga-demo-1 node --import tsx examples/distributed/worker.ts
 *
 * Environment: XSAGA_PREFIX (required), REDIS_URL, XSAGA_FAIL_RATE (transient failures of a call,
 * default 0.2), XSAGA_DECLINE_RATE (cards declined, default 0.1), XSAGA_COMPENSATE_FAIL_RATE
 * (transient failures of a cancellation, default 0.05), XSAGA_STEP_DELAY_MS (a call takes up to
 * this long, default 20).
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { CompensationContext, StepContext } from '../../src/index.ts';
import { createWorker, defineHandlers, TerminalError } from '../../src/index.ts';
import { trip } from '../trip-booking/saga.ts';

/** Where a participant ledger lives; read by the coordinator and the crash test. */
export function ledgerKey(prefix: string): string {
  return `${prefix}:ledger`;
}

/** Ledger fields: raw calls, and effects applied (first call with an idempotency key only). */
export function ledgerField(
  kind: 'calls' | 'applied',
  sagaId: string,
  step: string,
  direction: 'run' | 'compensate',
): string {
  return `${kind}|${sagaId}|${step}|${direction}`;
}

/**
 * KEYS[1] ledger hash, KEYS[2] hash of idempotency keys already applied.
 * ARGV[1] idempotency key, ARGV[2] calls field, ARGV[3] applied field, ARGV[4] the effect's value.
 * Returns the value stored under the key: the new one on the first call, the first one after that.
 */
const APPLY = `
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
  return ARGV[4]
end
return redis.call('HGET', KEYS[2], ARGV[1])
`;

/** Participants that dedupe by idempotency key, with a ledger in Redis that survives any process. */
class RedisParticipants {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async apply(ctx: StepContext, direction: 'run' | 'compensate', value: string): Promise<string> {
    const stored = await this.#redis.eval(
      APPLY,
      2,
      ledgerKey(this.#prefix),
      `${ledgerKey(this.#prefix)}:keys`,
      ctx.idempotencyKey,
      ledgerField('calls', ctx.sagaId, ctx.step, direction),
      ledgerField('applied', ctx.sagaId, ctx.step, direction),
      value,
    );
    return String(stored);
  }

  /** What was applied under `key`, if anything: the participant read back, for `verify`. */
  async read(key: string): Promise<string | undefined> {
    return (await this.#redis.hget(`${ledgerKey(this.#prefix)}:keys`, key)) ?? undefined;
  }

  close(): Promise<unknown> {
    return this.#redis.quit();
  }
}

function rate(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : Number(raw);
}

/** The same answer on every attempt: whether this saga's card is declined. */
function declined(sagaId: string, declineRate: number): boolean {
  const digest = createHash('sha256').update(sagaId).digest();
  return digest.readUInt32BE(0) / 0x1_0000_0000 < declineRate;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const prefix = process.env.XSAGA_PREFIX;
if (!prefix) throw new Error('XSAGA_PREFIX is not set: give the worker the same prefix as the engine');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const failRate = rate('XSAGA_FAIL_RATE', 0.2);
const declineRate = rate('XSAGA_DECLINE_RATE', 0.1);
const compensateFailRate = rate('XSAGA_COMPENSATE_FAIL_RATE', 0.05);
const maxDelayMs = rate('XSAGA_STEP_DELAY_MS', 20);

const participants = new RedisParticipants(new Redis(redisUrl), prefix);

/** A call to a participant: takes a while, fails transiently now and then, before or after applying. */
async function call(ctx: StepContext, direction: 'run' | 'compensate', failure: number): Promise<string> {
  await sleep(Math.random() * maxDelayMs);
  const fails = Math.random() < failure;
  if (fails && Math.random() < 0.5) throw new Error(`${ctx.step} ${direction}: participant unavailable`);
  const value = await participants.apply(ctx, direction, `${ctx.step}-${ctx.sagaId}`);
  // The effect happened but the answer was lost: the retry must not apply it again.
  if (fails) throw new Error(`${ctx.step} ${direction}: connection reset after the call`);
  return value;
}

/**
 * Reads the participant back after a call whose answer was lost (a transient error, a timeout, a
 * crash): a booking found under the key is the step's result, so the step is not called again.
 */
const verify = async (ctx: StepContext) => {
  const value = await participants.read(ctx.idempotencyKey);
  return value === undefined ? { done: false as const } : { done: true as const, result: value };
};

const reservation = {
  run: async (ctx: StepContext) => ({ bookingId: await call(ctx, 'run', failRate) }),
  // Cancels by the saga and step, so it needs no result: an in-doubt booking is cancelled the same way.
  compensate: async (ctx: CompensationContext) => {
    await call(ctx, 'compensate', compensateFailRate);
  },
  verify: async (ctx: StepContext) => {
    const answer = await verify(ctx);
    return answer.done ? { done: true as const, result: { bookingId: answer.result } } : answer;
  },
};

const handlers = defineHandlers(trip, {
  reserveFlight: reservation,
  reserveHotel: reservation,
  reserveCar: reservation,
  chargePayment: {
    run: async (ctx) => {
      if (declined(ctx.sagaId, declineRate)) throw new TerminalError(`card declined for trip ${ctx.input.tripId}`);
      return { chargeId: await call(ctx, 'run', failRate) };
    },
    verify: async (ctx) => {
      const answer = await verify(ctx);
      return answer.done ? { done: true as const, result: { chargeId: answer.result } } : answer;
    },
  },
  sendConfirmation: {
    run: async (ctx) => void (await call(ctx, 'run', failRate)),
    verify: async (ctx) => ((await verify(ctx)).done ? { done: true } : { done: false }),
  },
});

// A killed worker's jobs are taken over when their lock expires: tests shorten it to recover faster.
const lockDurationMs = process.env.XSAGA_LOCK_MS ? Number(process.env.XSAGA_LOCK_MS) : undefined;
const worker = createWorker({
  connection: redisUrl,
  prefix,
  // With the definitions the worker advances each saga itself after running its step (one hop).
  sagas: [trip],
  handlers: { [trip.name]: handlers },
  ...(lockDurationMs ? { lockDurationMs } : {}),
});

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await worker.close();
  await participants.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
// The coordinator went away: do not linger as an orphan.
process.on('disconnect', () => void shutdown());
process.send?.({ type: 'ready' });
