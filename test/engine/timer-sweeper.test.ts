import { describe, expect, it } from 'vitest';
import { TimerSweeper } from '../../src/engine/timer-sweeper.ts';
import { MemoryStore } from '../../src/persistence/memory-store.ts';
import { createTestClock } from '../../src/testing/index.ts';
import { deferred } from '../support/deferred.ts';

/** A store holding `count` sagas, each with one timer due at `dueAt`. */
async function storeWithTimers(count: number, dueAt: number): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (let i = 0; i < count; i++) {
    const sagaId = `s${i}`;
    const record = {
      sagaId,
      name: 'n',
      version: 1,
      state: 'Started' as const,
      snapshot: {},
      revision: 1,
      createdAt: 0,
      updatedAt: 0,
    };
    await store.create(record, { sagaId, at: 0, from: '', to: 'Started', event: 'saga.created' });
    await store.save(
      { sagaId, expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: 0, timer: { id: `t${i}`, dueAt } },
      { sagaId, at: 0, from: 'Started', to: 'Pending', event: 'saga.start' },
    );
  }
  return store;
}

describe('timer sweeper', () => {
  it('hands every due timer on in one sweep, batch after batch, and none that is not due', async () => {
    const clock = createTestClock(1_000);
    const store = await storeWithTimers(250, 1_000);
    await store.save(
      {
        sagaId: 's0',
        expectedRevision: 2,
        state: 'Pending',
        snapshot: {},
        updatedAt: 0,
        timer: { id: 'later', dueAt: 5_000 },
      },
      { sagaId: 's0', at: 0, from: 'Pending', to: 'Pending', event: 'x' },
    );
    const handed: string[] = [];
    const sweeper = new TimerSweeper(
      store,
      clock,
      async (id) => void handed.push(id),
      (error) => {
        throw error;
      },
    );
    await sweeper.sweep();
    expect(handed).toHaveLength(249);
    expect(handed).not.toContain('later');
    expect(new Set(handed).size).toBe(249);
  });

  it('delivers the timers of a batch at once, not one after another', async () => {
    const clock = createTestClock(1_000);
    const store = await storeWithTimers(3, 1_000);
    const release = deferred();
    const started: string[] = [];
    const sweeper = new TimerSweeper(
      store,
      clock,
      async (id) => {
        started.push(id);
        await release.promise;
      },
      () => undefined,
    );
    const sweep = sweeper.sweep();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // All three are in hand before any of them is done.
    expect(started.sort()).toEqual(['t0', 't1', 't2']);
    release.resolve();
    await sweep;
  });

  it('stops only once the timers in hand are delivered, and claims no more', async () => {
    const clock = createTestClock(1_000);
    const store = await storeWithTimers(150, 1_000);
    const release = deferred();
    const handed: string[] = [];
    const sweeper = new TimerSweeper(
      store,
      clock,
      async (id) => {
        await release.promise;
        handed.push(id);
      },
      () => undefined,
    );
    void sweeper.sweep();
    await new Promise((resolve) => setImmediate(resolve));
    let stopped = false;
    const stopping = sweeper.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);

    release.resolve();
    await stopping;
    // The first batch (100) was delivered; the next 50 were never claimed.
    expect(handed).toHaveLength(100);
    expect(await store.claimDueTimers(1_000, 2_000, 200)).toHaveLength(50);
  });

  it('wakes on the engine clock at the earliest due time, then at the next one the store holds', async () => {
    const clock = createTestClock(0);
    const store = await storeWithTimers(1, 100);
    await store.create(
      {
        sagaId: 'late',
        name: 'n',
        version: 1,
        state: 'Started',
        snapshot: {},
        revision: 1,
        createdAt: 0,
        updatedAt: 0,
      },
      { sagaId: 'late', at: 0, from: '', to: 'Started', event: 'saga.created' },
    );
    await store.save(
      {
        sagaId: 'late',
        expectedRevision: 1,
        state: 'Pending',
        snapshot: {},
        updatedAt: 0,
        timer: { id: 'tLate', dueAt: 300 },
      },
      { sagaId: 'late', at: 0, from: 'Started', to: 'Pending', event: 'saga.start' },
    );
    const handed: Array<[string, number]> = [];
    const sweeper = new TimerSweeper(
      store,
      clock,
      async (id, leaseEnd) => {
        handed.push([id, clock.now()]);
        await store.settleTimer(id, leaseEnd);
      },
      () => undefined,
    );
    sweeper.wakeAt(100);
    await clock.advance(99);
    expect(handed).toEqual([]);
    await clock.advance(1);
    expect(handed).toEqual([['t0', 100]]);
    await clock.advance(200);
    expect(handed).toEqual([
      ['t0', 100],
      ['tLate', 300],
    ]);
    sweeper.stop();
    expect(clock.pending).toBe(0);
  });
});
