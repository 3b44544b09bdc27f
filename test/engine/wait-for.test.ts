import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine, type StepHandler } from '../../src/index.ts';
import { MemoryStore } from '../../src/persistence/memory-store.ts';
import type { SagaStore } from '../../src/persistence/saga-store.ts';
import { caught } from '../support/caught.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The store's calls, the loads counted; `notices: false` hides `onSettled`, as a user's store may. */
function counted(inner: MemoryStore, notices = true) {
  const counter = { loads: 0 };
  const store: SagaStore = {
    create: (record, entry) => inner.create(record, entry),
    save: (update, entry) => inner.save(update, entry),
    load: (sagaId) => {
      counter.loads++;
      return inner.load(sagaId);
    },
    list: (query) => inner.list(query),
    history: (sagaId) => inner.history(sagaId),
    quarantine: (sagaId, entry) => inner.quarantine(sagaId, entry),
    stats: () => inner.stats(),
    listQuarantined: () => inner.listQuarantined(),
    ...(notices ? { onSettled: (listener) => inner.onSettled(listener) } : {}),
    close: () => inner.close(),
  };
  return { store, counter };
}

describe('engine.waitFor on a shared MemoryStore, the saga settled by another engine', () => {
  const engines: Engine[] = [];
  let open = () => {};
  afterEach(async () => {
    open();
    for (const engine of engines.splice(0)) await engine.close();
  });

  /** Engine A runs the steps (the last one waits for `open`); engine B, on the same store, only waits. */
  function twoEngines(notices: boolean) {
    const shared = new MemoryStore();
    const handlers = tripHandlers(new Participants());
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const chargePayment = {
      ...handlers.chargePayment,
      run: async (ctx: never) => {
        await gate;
        return handlers.chargePayment.run(ctx);
      },
    } as StepHandler;
    const a = createEngine({ store: shared, sagas: [trip], handlers: { [trip.name]: { ...handlers, chargePayment } } });
    const { store, counter } = counted(shared, notices);
    const b = createEngine({ store, sagas: [trip] });
    engines.push(b, a);
    return { a, b, counter };
  }

  it('is told by the store when the saga settles, and reads it only once meanwhile', async () => {
    const { a, b, counter } = twoEngines(true);
    const { sagaId } = await a.start(trip, { tripId: 'm-1' });
    const waiting = b.waitFor(sagaId, { timeoutMs: 10_000 });
    await sleep(1_100);
    expect(counter.loads).toBe(1);

    open();
    expect((await waiting).state).toBe('Completed');
    expect(counter.loads).toBe(2);
  });

  it('polls a store that cannot tell of settled sagas (no onSettled)', async () => {
    const { a, b, counter } = twoEngines(false);
    const { sagaId } = await a.start(trip, { tripId: 'm-2' });
    const waiting = b.waitFor(sagaId, { timeoutMs: 10_000 });
    await sleep(1_100);
    expect(counter.loads).toBeGreaterThanOrEqual(3);

    open();
    expect((await waiting).state).toBe('Completed');
  });

  it('rejects a pending wait with ENGINE_CLOSED when the engine closes', async () => {
    const { a, b } = twoEngines(true);
    const { sagaId } = await a.start(trip, { tripId: 'm-3' });
    const waiting = caught(b.waitFor(sagaId));
    engines.splice(engines.indexOf(b), 1);
    await b.close();

    expect((await waiting).code).toBe('ENGINE_CLOSED');
  });
});

describe('engine.waitFor of a saga the same engine started', () => {
  it('reads it once, when it settles: its creation came after the subscription, so no first read is needed', async () => {
    const { store, counter } = counted(new MemoryStore());
    const engine = createEngine({ store, sagas: [trip], handlers: { [trip.name]: tripHandlers(new Participants()) } });
    try {
      // The first wait subscribes to the store's notices.
      const warm = await engine.start(trip, { tripId: 'w-0' });
      await engine.waitFor(warm.sagaId, { timeoutMs: 10_000 });

      const before = counter.loads;
      const { sagaId } = await engine.start(trip, { tripId: 'w-1' });
      expect((await engine.waitFor(sagaId, { timeoutMs: 10_000 })).state).toBe('Completed');
      expect(counter.loads - before).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
