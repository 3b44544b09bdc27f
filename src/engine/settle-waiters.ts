import type { Clock } from '../clock.ts';
import { EngineClosedError, SagaError } from '../errors.ts';
import type { SettleListener } from '../persistence/saga-store.ts';
import { SETTLED_STATES } from '../vocabulary/states.ts';
import type { SagaView } from './saga-view.ts';

/** How often waiters read the store when it cannot tell of settled sagas (it has no `onSettled`). */
const POLL_MS = 500;

/** Sagas remembered as created here with no notice since; beyond it the oldest are forgotten (then read). */
const MAX_FRESH = 10_000;

/** A store's subscription to settled sagas: `SagaStore.onSettled`. */
export type SettleFeed = (listener: SettleListener) => Promise<() => Promise<void>>;

interface Waiter {
  resolve(view: SagaView): void;
  reject(error: unknown): void;
  /** What the waiter waits for, when not for the saga to settle (a dynamic saga's step to end). */
  ready?: (view: SagaView) => boolean;
}

/**
 * Reads a saga for its waiters: its full view once it is settled, else undefined, unless
 * `unsettledToo` (someone waits for something else): then its view (without the log) as it stands.
 */
export type WaiterRead = (sagaId: string, unsettledToo: boolean) => Promise<SagaView | undefined>;

/**
 * The callers of `engine.waitFor`, by saga. A waiter subscribes to the store's settle notices (one
 * subscription serves every waiter), then reads the saga once: a save that settled it before the
 * subscription was in place is seen by that read, one after it is announced. A notice, the engine's
 * own settling save (`check`) or a resync after the store's subscription came back makes the waited
 * sagas be read once more. Nothing polls, unless the store has no notices (a store without
 * `onSettled`): then every waited saga is read every 500 ms.
 *
 * The one read is skipped for a saga this process created while its subscription was up and of which
 * no notice came since (see {@link SettleWaiters.expect}): every save that could have settled it
 * came after the subscription, so its notice is still to come. That is the common `start` then
 * `waitFor`, which then costs one read of the store (the settled saga) instead of two.
 */
export class SettleWaiters {
  readonly #waiting = new Map<string, Set<Waiter>>();
  /** Sagas being read: `true` once another read was asked for meanwhile (it may see a later save). */
  readonly #reading = new Map<string, boolean>();
  readonly #clock: Clock;
  readonly #read: WaiterRead;
  readonly #feed: SettleFeed | undefined;
  /** Made by the first waiter and kept until close: one round trip per engine, not one per wait. */
  #subscription: Promise<() => Promise<void>> | undefined;
  /** True once the subscription is up: sagas created from then on will have their settle announced. */
  #live = false;
  /**
   * Sagas created here while subscribed, with no notice of them since (oldest first): `true` once
   * the create is known to have stored them. A resync (notices maybe missed) forgets them all.
   */
  readonly #fresh = new Map<string, boolean>();
  #poll: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(clock: Clock, read: WaiterRead, feed: SettleFeed | undefined) {
    this.#clock = clock;
    this.#read = read;
    this.#feed = feed;
  }

  /**
   * Reads the saga if anyone waits for it, and resolves them if it is settled (or rejects them if
   * it cannot be read). Reads of one saga never overlap: a check during a read reads once more after
   * it, since that read may have missed the save that caused the check.
   */
  check(sagaId: string): void {
    // Something was saved and announced: whatever it was, the saga is read from now on.
    this.#fresh.delete(sagaId);
    if (!this.#waiting.has(sagaId)) return;
    if (this.#reading.has(sagaId)) {
      this.#reading.set(sagaId, true);
      return;
    }
    this.#reading.set(sagaId, false);
    const unsettledToo = [...(this.#waiting.get(sagaId) ?? [])].some((waiter) => waiter.ready);
    void this.#read(sagaId, unsettledToo)
      .then(
        (view) =>
          view &&
          this.#each(sagaId, (waiter) => {
            if (waiter.ready ? waiter.ready(view) : SETTLED_STATES.includes(view.state)) waiter.resolve(view);
          }),
        (error: unknown) => this.#each(sagaId, (waiter) => waiter.reject(error)),
      )
      .finally(() => {
        const again = this.#reading.get(sagaId);
        this.#reading.delete(sagaId);
        if (again) this.check(sagaId);
      });
  }

  /**
   * Resolves with the saga's view once it is settled (or once `ready` holds of it); rejects after
   * `timeoutMs` if given. `ready` is tested on reads after settling or parking saves (see
   * `SagaUpdate.announce`): it must hold by the time the saga settles or parks.
   */
  wait(sagaId: string, timeoutMs?: number, ready?: (view: SagaView) => boolean): Promise<SagaView> {
    if (this.#closed) return Promise.reject(new EngineClosedError());
    return new Promise<SagaView>((resolve, reject) => {
      let timer: unknown;
      const waiters = this.#waiting.get(sagaId) ?? new Set();
      const stop = () => {
        waiters.delete(waiter);
        if (waiters.size === 0 && this.#waiting.get(sagaId) === waiters) this.#waiting.delete(sagaId);
        if (this.#waiting.size === 0) this.#stopPolling();
        if (timer !== undefined) this.#clock.clearTimeout(timer);
      };
      const waiter: Waiter = {
        ...(ready ? { ready } : {}),
        resolve: (view) => {
          stop();
          resolve(view);
        },
        reject: (error) => {
          stop();
          reject(error);
        },
      };
      waiters.add(waiter);
      this.#waiting.set(sagaId, waiters);
      if (timeoutMs !== undefined) {
        timer = this.#clock.setTimeout(() => {
          const what = ready ? 'get where it was awaited' : 'settle';
          waiter.reject(new SagaError('WAIT_TIMEOUT', `saga "${sagaId}" did not ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      // Subscribed first, read second (see the class comment). Registered before both: the engine's
      // own settling save meanwhile still reaches the waiter through `check`.
      this.#listen().then(
        () => {
          // A waiter for something other than settling (`ready`) reads anyway: cheap, and rare.
          if (!ready && this.#takeFresh(sagaId)) return;
          this.check(sagaId);
        },
        (error: unknown) => waiter.reject(error),
      );
    });
  }

  /**
   * This process is about to create saga `sagaId` (call before the store's create, then
   * {@link SettleWaiters.created} after it): if the subscription is up, the saga's settling save will
   * be announced, so a later `wait` need not read the store first. Any notice or `check` of the saga
   * meanwhile cancels the mark.
   */
  expect(sagaId: string): void {
    if (!this.#live) return;
    this.#fresh.delete(sagaId);
    this.#fresh.set(sagaId, false);
    if (this.#fresh.size > MAX_FRESH) {
      const [oldest] = this.#fresh.keys();
      if (oldest !== undefined) this.#fresh.delete(oldest);
    }
  }

  /**
   * The create that {@link SettleWaiters.expect} preceded is done: `stored` when it stored a new
   * saga under that id. An existing saga (an idempotent repeat) may have settled long ago: it is read.
   */
  created(sagaId: string, stored: boolean): void {
    if (!this.#fresh.has(sagaId)) return;
    if (stored) this.#fresh.set(sagaId, true);
    else this.#fresh.delete(sagaId);
  }

  /** Ends the subscription (or the polling); whoever still waits is rejected with ENGINE_CLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false;
    this.#fresh.clear();
    this.#stopPolling();
    for (const sagaId of [...this.#waiting.keys()])
      this.#each(sagaId, (waiter) => waiter.reject(new EngineClosedError()));
    const subscription = this.#subscription;
    this.#subscription = undefined;
    // A subscription that failed was reported to the waiters that asked for it: nothing to end.
    const unsubscribe = await subscription?.catch(() => undefined);
    await unsubscribe?.();
  }

  /** Resolves once settle notices reach this object (at once when the store has none: polling). */
  #listen(): Promise<unknown> {
    if (!this.#feed) {
      this.#startPolling();
      return Promise.resolve();
    }
    if (!this.#subscription) {
      const subscription = this.#feed({
        settled: (sagaId) => this.check(sagaId),
        resync: (error) => this.#resync(error),
      });
      this.#subscription = subscription;
      subscription.then(
        () => {
          if (this.#subscription === subscription && !this.#closed) this.#live = true;
        },
        // Not kept when it fails (each waiter that asked is rejected): the next waiter tries again.
        () => {
          if (this.#subscription === subscription) this.#subscription = undefined;
        },
      );
    }
    return this.#subscription;
  }

  /** Notices may have been missed: read every waited saga again (or fail them, if `error` says why). */
  #resync(error?: unknown): void {
    // Notices may have been lost while the subscription was down: no saga counts as fresh any more.
    this.#fresh.clear();
    if (error !== undefined) this.#live = false;
    for (const sagaId of [...this.#waiting.keys()]) {
      if (error === undefined) this.check(sagaId);
      else this.#each(sagaId, (waiter) => waiter.reject(error));
    }
  }

  /** Whether `sagaId` was created here while subscribed, with no notice since; forgets the mark. */
  #takeFresh(sagaId: string): boolean {
    const stored = this.#fresh.get(sagaId) === true;
    this.#fresh.delete(sagaId);
    return stored && this.#live;
  }

  #each(sagaId: string, act: (waiter: Waiter) => void): void {
    for (const waiter of [...(this.#waiting.get(sagaId) ?? [])]) act(waiter);
  }

  #startPolling(): void {
    if (this.#poll !== undefined) return;
    // Real time on purpose, unref'd: polling is not saga time and must not keep a process alive.
    this.#poll = setInterval(() => {
      for (const sagaId of this.#waiting.keys()) this.check(sagaId);
    }, POLL_MS);
    this.#poll.unref();
  }

  #stopPolling(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
  }
}
