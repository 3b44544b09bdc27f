import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, createWorker, type Engine, type StepWorker, silentLogger } from '../../src/index.ts';
import { dropPrefix, REDIS_URL } from './redis-helpers.ts';

/** BullMQ 6 sends a completion as EVALSHA <sha> 14 <14 keys> <jobId> <timestamp> <field> <value> <target> ... */
function isSeparateCompletion(args: unknown[]): boolean {
  return String(args[1]) === '14' && args[2 + 14 + 4] === 'completed';
}

/** Counts the completions any ioredis client in this process sends as commands of their own. */
function countSeparateCompletions(): { count: () => number; restore: () => void } {
  const prototype = Redis.prototype as unknown as { sendCommand(command: { name: string; args: unknown[] }): unknown };
  const send = prototype.sendCommand;
  let count = 0;
  prototype.sendCommand = function (this: Redis, command: { name: string; args: unknown[] }) {
    if ((command.name === 'evalsha' || command.name === 'eval') && isSeparateCompletion(command.args)) count++;
    return send.call(this, command);
  };
  return {
    count: () => count,
    restore: () => {
      prototype.sendCommand = send;
    },
  };
}

describe("a step's BullMQ job completes in the save that applies its outcome", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function open(options: { completeInSave?: boolean } = {}) {
    const prefix = `xsaga-test-${randomUUID()}`;
    const participants = new Participants();
    const engine: Engine = createEngine({
      redis: { connection: REDIS_URL, prefix },
      sagas: [trip],
      logger: silentLogger,
    });
    const worker: StepWorker = createWorker({
      connection: REDIS_URL,
      prefix,
      sagas: [trip],
      handlers: { [trip.name]: tripHandlers(participants) },
      logger: silentLogger,
      ...options,
    });
    const completions = countSeparateCompletions();
    cleanups.push(async () => {
      completions.restore();
      await worker.close();
      await engine.close();
      await dropPrefix(prefix);
    });
    return { engine, participants, completions, prefix };
  }

  it('sends no completion of its own for a step whose save dispatches the next one', async () => {
    const { engine, participants, completions } = open();
    const { sagaId } = await engine.start(trip, { tripId: 'c-1', cardDeclined: false });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });

    expect(final.state).toBe('Completed');
    expect(participants.bookings.size).toBe(4);
    expect(completions.count()).toBe(0);
  });

  it('rolls back as before: the failed step completes the usual way, its compensations in their saves', async () => {
    const { engine, participants, completions } = open();
    const { sagaId } = await engine.start(trip, { tripId: 'c-2', cardDeclined: true });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });

    expect(final.state).toBe('Failed');
    expect(final.compensated).toEqual(['reserveCar', 'reserveHotel', 'reserveFlight']);
    expect(participants.bookings.size).toBe(0);
    // Only the declined payment: a failure is applied before BullMQ completes its job.
    expect(completions.count()).toBe(1);
  });

  it('sends every completion itself with completeInSave: false, and the saga completes the same', async () => {
    const { engine, completions } = open({ completeInSave: false });
    const { sagaId } = await engine.start(trip, { tripId: 'c-3', cardDeclined: false });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });

    expect(final.state).toBe('Completed');
    expect(completions.count()).toBe(trip.steps.length);
  });

  it('leaves no job behind: every step job is completed and removed', async () => {
    const { engine, prefix } = open();
    const ids = await Promise.all(
      [1, 2, 3].map(async (n) => (await engine.start(trip, { tripId: `c-4-${n}`, cardDeclined: false })).sagaId),
    );
    for (const id of ids) expect((await engine.waitFor(id, { timeoutMs: 20_000 })).state).toBe('Completed');
    const redis = new Redis(REDIS_URL);
    cleanups.push(() => redis.quit().then(() => undefined));
    const bull = `${prefix}:bull:xsaga-steps`;
    const [active, wait] = await Promise.all([redis.llen(`${bull}:active`), redis.llen(`${bull}:wait`)]);
    expect({ active, wait }).toEqual({ active: 0, wait: 0 });
  });
});
