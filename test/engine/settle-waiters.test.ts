import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SagaView } from '../../src/engine/saga-view.ts';
import { type SettleFeed, SettleWaiters } from '../../src/engine/settle-waiters.ts';
import type { SettleListener } from '../../src/persistence/saga-store.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { caught } from '../support/caught.ts';

/** A store stand-in: settled sagas, the reads made of them, and one settle feed with its listeners. */
class FakeStore {
  readonly settled = new Map<string, SagaView>();
  readonly calls: string[] = [];
  readonly listeners = new Set<SettleListener>();
  /** When set, the next read waits for it before answering with what it saw when it started. */
  hold: Promise<void> | undefined;
  subscribeError: unknown;

  readonly feed: SettleFeed = async (listener) => {
    this.calls.push('subscribe');
    await Promise.resolve();
    if (this.subscribeError !== undefined) throw this.subscribeError;
    this.listeners.add(listener);
    return async () => {
      this.calls.push('unsubscribe');
      this.listeners.delete(listener);
    };
  };

  readonly settledView = async (sagaId: string): Promise<SagaView | undefined> => {
    this.calls.push(`read ${sagaId}`);
    const seen = this.settled.get(sagaId);
    const hold = this.hold;
    this.hold = undefined;
    if (hold) await hold;
    return seen;
  };

  /** Another process settles the saga: stored first, then announced. */
  settle(sagaId: string, state = 'Completed'): void {
    this.settled.set(sagaId, { sagaId, state } as SagaView);
    this.notify(sagaId);
  }

  notify(sagaId: string): void {
    for (const listener of this.listeners) listener.settled(sagaId);
  }

  reads(): number {
    return this.calls.filter((call) => call.startsWith('read')).length;
  }
}

/** Lets every pending promise callback run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('SettleWaiters', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('subscribes first and reads second, once: a saga already settled resolves from that read', async () => {
    const store = new FakeStore();
    store.settled.set('s1', { sagaId: 's1', state: 'Failed' } as SagaView);
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);

    expect((await waiters.wait('s1')).state).toBe('Failed');
    expect(store.calls).toEqual(['subscribe', 'read s1']);
  });

  it('resolves on the notice of a save that settles the saga, and reads nothing while it waits', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'setTimeout'] });
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    let view: SagaView | undefined;
    void waiters.wait('s1').then((settled) => {
      view = settled;
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(store.calls).toEqual(['subscribe', 'read s1']);

    store.settle('s1');
    await vi.advanceTimersByTimeAsync(0);
    expect(view?.state).toBe('Completed');
    expect(store.reads()).toBe(2);
  });

  it('catches a save that settles the saga while the first read is under way (read stale, notice meanwhile)', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    let release = () => {};
    store.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const waiting = waiters.wait('s1');
    await flush();
    // The read has seen the saga unsettled; the settling save and its notice come before it returns.
    store.settle('s1');
    release();

    expect((await waiting).state).toBe('Completed');
    expect(store.calls).toEqual(['subscribe', 'read s1', 'read s1']);
  });

  it('catches a save that settles the saga between the subscription and the first read', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, async (listener) => {
      const unsubscribe = await store.feed(listener);
      store.settled.set('s1', { sagaId: 's1', state: 'Escalated' } as SagaView);
      return unsubscribe;
    });

    expect((await waiters.wait('s1')).state).toBe('Escalated');
  });

  it('serves every waiter and saga from one subscription, and reads no saga nobody waits for', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    const a1 = waiters.wait('a');
    const a2 = waiters.wait('a');
    const b = waiters.wait('b');
    await flush();
    store.settle('a');
    store.settle('elsewhere');
    store.settle('b', 'Failed');

    expect((await a1).state).toBe('Completed');
    expect((await a2).state).toBe('Completed');
    expect((await b).state).toBe('Failed');
    expect(store.calls.filter((call) => call === 'subscribe')).toHaveLength(1);
    expect(store.calls).not.toContain('read elsewhere');
    // Both waiters of `a` shared the read its notice caused.
    expect(store.calls.filter((call) => call === 'read a')).toHaveLength(3);
  });

  it("reads again once for the engine's own settling save (check), and not at all for a saga nobody waits for", async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    waiters.check('nobody');
    const waiting = waiters.wait('s1');
    await flush();
    store.settled.set('s1', { sagaId: 's1', state: 'Completed' } as SagaView);
    waiters.check('s1');
    // Its notice arrives too: the waiter is already resolved, so it costs no read.
    await waiting;
    store.notify('s1');
    await flush();

    expect(store.calls).toEqual(['subscribe', 'read s1', 'read s1']);
  });

  it('reads every pending saga again on a resync (notices were lost while the subscription was down)', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    const a = waiters.wait('a');
    const b = waiters.wait('b');
    await flush();
    // Settled while disconnected: stored, never announced.
    store.settled.set('a', { sagaId: 'a', state: 'Completed' } as SagaView);
    for (const listener of store.listeners) listener.resync();

    expect((await a).state).toBe('Completed');
    await flush();
    expect(store.calls.filter((call) => call === 'read b')).toHaveLength(2);
    store.settle('b');
    expect((await b).state).toBe('Completed');
  });

  it('rejects the waiters when subscribing again failed, since no notice would come', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    const waiting = waiters.wait('s1');
    await flush();
    const refused = new Error('NOPERM');
    for (const listener of store.listeners) listener.resync(refused);

    expect(await caught(waiting)).toBe(refused);
  });

  it('rejects a waiter whose subscription fails, and subscribes again for the next one', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    store.subscribeError = new Error('connection refused');
    expect(await caught(waiters.wait('s1'))).toBe(store.subscribeError);

    store.subscribeError = undefined;
    store.settled.set('s1', { sagaId: 's1', state: 'Completed' } as SagaView);
    expect((await waiters.wait('s1')).state).toBe('Completed');
    expect(store.calls.filter((call) => call === 'subscribe')).toHaveLength(2);
  });

  it('rejects with the error of a read that fails, for every waiter of the saga', async () => {
    const store = new FakeStore();
    const missing = new Error('saga not found');
    const waiters = new SettleWaiters(
      new TestClock(),
      async () => {
        throw missing;
      },
      store.feed,
    );

    expect(await caught(waiters.wait('s1'))).toBe(missing);
  });

  it('times out on the engine clock with WAIT_TIMEOUT, and forgets the waiter', async () => {
    const clock = new TestClock();
    const store = new FakeStore();
    const waiters = new SettleWaiters(clock, store.settledView, store.feed);
    const waiting = caught(waiters.wait('s1', 1_000));
    await flush();
    await clock.advance(999);
    store.notify('s1');
    await flush();
    expect(store.reads()).toBe(2);
    await clock.advance(1);

    const error = await waiting;
    expect(error.code).toBe('WAIT_TIMEOUT');
    expect(error.message).toBe('saga "s1" did not settle within 1000 ms');
    store.settle('s1');
    await flush();
    expect(store.reads()).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('ends the subscription on close and rejects whoever still waits with ENGINE_CLOSED', async () => {
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
    const waiting = waiters.wait('s1');
    await flush();
    await waiters.close();

    expect((await caught(waiting)).code).toBe('ENGINE_CLOSED');
    expect((await caught(waiters.wait('s2'))).code).toBe('ENGINE_CLOSED');
    expect(store.calls).toEqual(['subscribe', 'read s1', 'unsubscribe']);
    expect(store.listeners.size).toBe(0);
  });

  it('polls every 500 ms when the store cannot tell of settled sagas, and stops when nobody waits', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const store = new FakeStore();
    const waiters = new SettleWaiters(new TestClock(), store.settledView, undefined);
    const waiting = waiters.wait('s1');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(store.reads()).toBe(3);

    store.settled.set('s1', { sagaId: 's1', state: 'Completed' } as SagaView);
    await vi.advanceTimersByTimeAsync(500);
    expect((await waiting).state).toBe('Completed');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.reads()).toBe(4);
    expect(store.calls).not.toContain('subscribe');
  });

  describe('sagas created here while subscribed', () => {
    /** Waiters whose subscription is up: a first waiter (of a settled saga) made it. */
    async function subscribedWaiters(store: FakeStore): Promise<SettleWaiters> {
      const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
      store.settled.set('warm', { sagaId: 'warm', state: 'Completed' } as SagaView);
      await waiters.wait('warm');
      store.calls.length = 0;
      return waiters;
    }

    /** Whether `promise` has settled after every pending callback ran. */
    async function settledYet(promise: Promise<unknown>): Promise<boolean> {
      let done = false;
      void promise.then(
        () => (done = true),
        () => (done = true),
      );
      await flush();
      return done;
    }

    it('skips the first read of a saga it created, and reads it once on its notice', async () => {
      const store = new FakeStore();
      const waiters = await subscribedWaiters(store);
      waiters.expect('s1');
      waiters.created('s1', true);
      const waiting = waiters.wait('s1');
      await flush();
      expect(store.calls).toEqual([]);

      store.settle('s1');
      expect((await waiting).state).toBe('Completed');
      expect(store.calls).toEqual(['read s1']);
    });

    it('reads a saga whose notice came before the wait (it settled in between)', async () => {
      const store = new FakeStore();
      const waiters = await subscribedWaiters(store);
      waiters.expect('s1');
      waiters.created('s1', true);
      store.settle('s1');

      expect(await settledYet(waiters.wait('s1'))).toBe(true);
      expect(store.calls).toEqual(['read s1']);
    });

    it("reads a saga whose notice came during the create, and one the engine's own save settled (check)", async () => {
      const store = new FakeStore();
      const waiters = await subscribedWaiters(store);
      waiters.expect('a');
      store.settle('a');
      waiters.created('a', true);
      waiters.expect('b');
      waiters.created('b', true);
      store.settled.set('b', { sagaId: 'b', state: 'Failed' } as SagaView);
      waiters.check('b');

      expect(await settledYet(waiters.wait('a'))).toBe(true);
      expect(await settledYet(waiters.wait('b'))).toBe(true);
    });

    it('reads a saga the create did not store (an idempotent repeat returned an existing one)', async () => {
      const store = new FakeStore();
      const waiters = await subscribedWaiters(store);
      store.settled.set('s1', { sagaId: 's1', state: 'Completed' } as SagaView);
      waiters.expect('s1');
      waiters.created('s1', false);

      expect(await settledYet(waiters.wait('s1'))).toBe(true);
    });

    it('reads every saga created before a resync, since its notice may have been lost', async () => {
      const store = new FakeStore();
      const waiters = await subscribedWaiters(store);
      waiters.expect('s1');
      waiters.created('s1', true);
      // Settled while the subscription was down: stored, never announced; then it came back.
      store.settled.set('s1', { sagaId: 's1', state: 'Completed' } as SagaView);
      for (const listener of store.listeners) listener.resync();

      expect(await settledYet(waiters.wait('s1'))).toBe(true);
    });

    it('marks nothing before the subscription is up, and reads a saga waited for a second time', async () => {
      const store = new FakeStore();
      const waiters = new SettleWaiters(new TestClock(), store.settledView, store.feed);
      store.settled.set('early', { sagaId: 'early', state: 'Completed' } as SagaView);
      waiters.expect('early');
      waiters.created('early', true);
      expect(await settledYet(waiters.wait('early'))).toBe(true);

      waiters.expect('s1');
      waiters.created('s1', true);
      const first = waiters.wait('s1');
      store.settle('s1');
      await first;
      expect(await settledYet(waiters.wait('s1'))).toBe(true);
      expect(store.calls.filter((call) => call === 'read s1')).toHaveLength(2);
    });
  });
});
