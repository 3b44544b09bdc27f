import type { Clock, TimerHandle } from '../clock.ts';
import type { SagaStore } from '../persistence/saga-store.ts';

/** How long a claimed timer is this process's before another may take it; also a held job's recheck. */
export const TIMER_LEASE_MS = 30_000;
/** The longest delay a Node timer takes (2^31 - 1 ms). */
const MAX_TIMEOUT_MS = 2_147_483_647;
/** Timers claimed per sweep. */
const TIMER_BATCH = 100;
/** How often a Redis engine (and a worker that advances sagas) sweeps the timer set. */
export const TIMER_SWEEP_MS = 1_000;

/** What a due timer is handed to: its id and the end of this process's claim on it. */
export type TimerHandler = (id: string, leaseEnd: number) => Promise<void>;

/**
 * Sweeps a store's timer set: every `everyMs` (real time, like the stuck detector; the due times
 * come from the engine clock) it claims the timers that are due, so no other process takes them
 * (a process that dies loses its claim when the lease ends), and hands each to `onDue`. Every engine
 * and every worker that advances sagas sweeps, so a dead process's timers fire in another. One
 * sweep at a time; errors go to `onError`, and one timer's failure does not stop the others.
 */
export class TimerSweeper {
  readonly #store: SagaStore;
  readonly #clock: Clock;
  readonly #onDue: TimerHandler;
  readonly #onError: (error: unknown) => void;
  #interval: ReturnType<typeof setInterval> | undefined;
  /** The one local wake-up (engine clock) at the earliest due time this process knows of. */
  #wake: { at: number; handle: TimerHandle } | undefined;
  #sweeping = false;
  /** A wake-up came while a sweep ran: look for the next due time once it ends. */
  #rearmAfterSweep = false;
  #stopped = false;
  /** The sweep under way, if any: what `stop` waits for. */
  #current: Promise<void> | undefined;

  constructor(store: SagaStore, clock: Clock, onDue: TimerHandler, onError: (error: unknown) => void) {
    this.#store = store;
    this.#clock = clock;
    this.#onDue = onDue;
    this.#onError = onError;
  }

  /** Sweeps every `everyMs` until stopped; does nothing for a store that keeps no timers. */
  start(everyMs: number): void {
    if (!this.#store.claimDueTimers || this.#interval) return;
    this.#interval = setInterval(() => void this.sweep(), everyMs);
    this.#interval.unref();
  }

  /**
   * Sweeps once `dueAt` has come on the engine clock, then wakes again at the next due time the
   * store holds: how a short sleep fires on time, and how an embedded engine (no periodic sweep)
   * fires its timers at all. Only the earliest wake-up is kept, so a process holds one clock timer
   * however many sagas are parked.
   */
  wakeAt(dueAt: number): void {
    if (!this.#store.claimDueTimers || this.#stopped) return;
    if (this.#wake && this.#wake.at <= dueAt) return;
    if (this.#wake) this.#clock.clearTimeout(this.#wake.handle);
    const handle = this.#clock.setTimeout(
      () => {
        this.#wake = undefined;
        void this.sweep().then(() => this.#rearm());
      },
      // Node's timers hold at most ~24.8 days: a later wake-up fires early, finds nothing due, and re-arms.
      Math.min(MAX_TIMEOUT_MS, Math.max(0, dueAt - this.#clock.now())),
    );
    this.#wake = { at: dueAt, handle };
  }

  /**
   * Sweeps no more, and resolves once a sweep under way has handed on what it claimed: a closing
   * engine closes its store and queue after this, never under a timer being delivered. (The batch
   * in hand finishes; a claimed timer not delivered would wait out its lease in another process.)
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#interval);
    if (this.#wake) this.#clock.clearTimeout(this.#wake.handle);
    this.#wake = undefined;
    await this.#current;
  }

  /** Wakes at the store's next due time (a claimed timer counts at its lease end). */
  async #rearm(): Promise<void> {
    if (this.#stopped || !this.#store.nextTimerAt) return;
    if (this.#sweeping) {
      this.#rearmAfterSweep = true;
      return;
    }
    try {
      const next = await this.#store.nextTimerAt();
      if (next !== undefined) this.wakeAt(next);
    } catch (error) {
      this.#onError(error);
    }
  }

  /** One sweep: claim what is due now and hand each timer on. */
  sweep(): Promise<void> {
    const { claimDueTimers } = this.#store;
    if (this.#sweeping || this.#stopped || !claimDueTimers) return this.#current ?? Promise.resolve();
    this.#sweeping = true;
    this.#current = this.#sweepWith(claimDueTimers);
    return this.#current;
  }

  async #sweepWith(claimDueTimers: NonNullable<SagaStore['claimDueTimers']>): Promise<void> {
    try {
      // Batch after batch while they come full: a burst of deadlines drains now, not a batch a sweep.
      // A claimed timer is not due again within its lease, so this cannot spin on the same ones.
      while (!this.#stopped) {
        const leaseEnd = this.#clock.now() + TIMER_LEASE_MS;
        const due = await claimDueTimers.call(this.#store, this.#clock.now(), leaseEnd, TIMER_BATCH);
        // At once: each saga holds one timer, and events of one saga are serialised by the event
        // path anyway; one at a time held a burst of 2,000 deadlines to 786/s (bench scenario 13).
        await Promise.all(due.map((id) => this.#onDue(id, leaseEnd).catch(this.#onError)));
        if (due.length < TIMER_BATCH) return;
      }
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#sweeping = false;
      this.#current = undefined;
      if (this.#rearmAfterSweep) {
        this.#rearmAfterSweep = false;
        void this.#rearm();
      }
    }
  }
}
