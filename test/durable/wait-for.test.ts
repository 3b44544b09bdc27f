import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine, type StepHandler } from '../../src/index.ts';
import { createRedisStore } from '../../src/persistence/redis-store.ts';
import type { SagaRecord, SagaStore } from '../../src/persistence/saga-store.ts';
import { caught } from '../support/caught.ts';
import { dropPrefix, REDIS_URL } from './redis-helpers.ts';
import { OwnRedis } from './redis-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A store that counts the records it loads (what polling multiplies) and lets a test step into a load. */
function countingLoads(
  inner: SagaStore,
  load: (sagaId: string, read: () => Promise<SagaRecord | undefined>) => Promise<SagaRecord | undefined> = (_, read) =>
    read(),
) {
  const counter = { loads: 0 };
  const onSettled = inner.onSettled?.bind(inner);
  const store: SagaStore = {
    create: (record, entry) => inner.create(record, entry),
    save: (update, entry) => inner.save(update, entry),
    load: (sagaId) => {
      counter.loads++;
      return load(sagaId, () => inner.load(sagaId));
    },
    list: (query) => inner.list(query),
    history: (sagaId) => inner.history(sagaId),
    quarantine: (sagaId, entry) => inner.quarantine(sagaId, entry),
    stats: () => inner.stats(),
    listQuarantined: () => inner.listQuarantined(),
    ...(onSettled ? { onSettled } : {}),
    close: () => inner.close(),
  };
  return { store, counter };
}

/** A gate the last forward step waits at, so a test decides when the saga settles. */
function gatedHandlers(participants: Participants) {
  const handlers = tripHandlers(participants);
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const chargePayment: StepHandler = {
    ...handlers.chargePayment,
    run: async (ctx) => {
      await gate;
      return handlers.chargePayment.run(ctx as never);
    },
  } as StepHandler;
  return { handlers: { [trip.name]: { ...handlers, chargePayment } }, open };
}

describe('engine.waitFor on Redis: told by pub/sub, no polling', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Engine A runs the saga's steps on Redis; the gate holds its last step. */
  function runner(connection: string, prefix: string) {
    const gated = gatedHandlers(new Participants());
    const engine = createEngine({ redis: { connection, prefix }, sagas: [trip], handlers: gated.handlers });
    cleanups.push(async () => {
      gated.open(); // a test that failed early must not leave a step waiting (close waits for it)
      await engine.close();
    });
    return { engine, open: gated.open };
  }

  /**
   * Engine B only waits: its own store on the same prefix (a process of its own), an in-process queue
   * nobody feeds, so the saga can only settle elsewhere.
   */
  function waiter(store: SagaStore): Engine {
    const engine = createEngine({ store, sagas: [trip] });
    cleanups.push(async () => {
      await engine.close();
      await store.close();
    });
    return engine;
  }

  function newPrefix(): string {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    return prefix;
  }

  it('resolves when another engine settles the saga, having read it once while it waited', async () => {
    const prefix = newPrefix();
    const a = runner(REDIS_URL, prefix);
    const { store, counter } = countingLoads(createRedisStore({ connection: REDIS_URL, prefix }));
    const b = waiter(store);
    const { sagaId } = await a.engine.start(trip, { tripId: 'w-1' });

    const waiting = b.waitFor(sagaId, { timeoutMs: 20_000 });
    // Polling every 500 ms would have read it three more times by now.
    await sleep(1_600);
    expect(counter.loads).toBe(1);

    a.open();
    const view = await waiting;
    expect(view.state).toBe('Completed');
    expect(view.history.at(-1)?.to).toBe('Completed');
    expect(counter.loads).toBe(2);
  });

  it('misses no settle that lands while its first read is under way (the read sees the saga unsettled)', async () => {
    const prefix = newPrefix();
    const a = runner(REDIS_URL, prefix);
    const { store, counter } = countingLoads(
      createRedisStore({ connection: REDIS_URL, prefix }),
      async (sagaId, read) => {
        const stale = await read();
        if (counter.loads === 1) {
          // The saga settles, and is announced, after this read and before it returns.
          a.open();
          expect((await a.engine.waitFor(sagaId, { timeoutMs: 20_000 })).state).toBe('Completed');
          await sleep(100);
          expect(stale?.state).toBe('Pending');
        }
        return stale;
      },
    );
    const b = waiter(store);
    const { sagaId } = await a.engine.start(trip, { tripId: 'w-2' });

    expect((await b.waitFor(sagaId, { timeoutMs: 5_000 })).state).toBe('Completed');
    expect(counter.loads).toBe(2);
  });

  it('misses no settle that lands between its subscription and its first read', async () => {
    const prefix = newPrefix();
    const a = runner(REDIS_URL, prefix);
    const inner = createRedisStore({ connection: REDIS_URL, prefix });
    const { sagaId } = await a.engine.start(trip, { tripId: 'w-3' });
    const { store } = countingLoads(inner);
    const b = waiter({
      ...store,
      onSettled: async (listener) => {
        const unsubscribe = await inner.onSettled(listener);
        a.open();
        await a.engine.waitFor(sagaId, { timeoutMs: 20_000 });
        return unsubscribe;
      },
    });

    expect((await b.waitFor(sagaId, { timeoutMs: 5_000 })).state).toBe('Completed');
  });

  it('still times out with WAIT_TIMEOUT, and a later wait is still told', async () => {
    const prefix = newPrefix();
    const a = runner(REDIS_URL, prefix);
    const b = waiter(createRedisStore({ connection: REDIS_URL, prefix }));
    const { sagaId } = await a.engine.start(trip, { tripId: 'w-4' });

    expect((await caught(b.waitFor(sagaId, { timeoutMs: 200 }))).code).toBe('WAIT_TIMEOUT');
    const waiting = b.waitFor(sagaId, { timeoutMs: 20_000 });
    a.open();
    expect((await waiting).state).toBe('Completed');
  });

  it('reads every waited saga again after its subscriber reconnects: what was published meanwhile is lost', async () => {
    const server = await OwnRedis.start();
    cleanups.push(() => server.stop());
    const admin = new Redis(server.url);
    cleanups.push(async () => {
      await admin.quit();
    });
    const prefix = `reconnect-${randomUUID()}`;
    const a = runner(server.url, prefix);
    // The subscriber is a duplicate of this connection: it comes back a second after it is dropped.
    const { store, counter } = countingLoads(
      createRedisStore({ connection: { host: '127.0.0.1', port: server.port, retryStrategy: () => 1_000 }, prefix }),
    );
    const b = waiter(store);
    const { sagaId } = await a.engine.start(trip, { tripId: 'w-5' });
    let settled = false;
    const waiting = b.waitFor(sagaId, { timeoutMs: 20_000 }).finally(() => {
      settled = true;
    });
    await sleep(100);
    expect(counter.loads).toBe(1);

    expect(await admin.client('KILL', 'TYPE', 'pubsub')).toBe(1);
    a.open();
    expect((await a.engine.waitFor(sagaId, { timeoutMs: 5_000 })).state).toBe('Completed');
    expect(settled).toBe(false);

    expect((await waiting).state).toBe('Completed');
    expect(counter.loads).toBe(2);
  });
});
