import type { Clock } from '../clock.ts';
import type { SagaStore } from '../persistence/saga-store.ts';

/** How long a claimed timer is this process's before another may take it; also a held job's recheck. */
export const TIMER_LEASE_MS = 30_000;
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
  #sweeping = false;
  #stopped = false;

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

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#interval);
  }

  /** One sweep: claim what is due now and hand each timer on. */
  async sweep(): Promise<void> {
    const { claimDueTimers } = this.#store;
    if (this.#sweeping || this.#stopped || !claimDueTimers) return;
    this.#sweeping = true;
    try {
      const leaseEnd = this.#clock.now() + TIMER_LEASE_MS;
      const due = await claimDueTimers.call(this.#store, this.#clock.now(), leaseEnd, TIMER_BATCH);
      for (const id of due) {
        if (this.#stopped) return;
        await this.#onDue(id, leaseEnd).catch(this.#onError);
      }
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#sweeping = false;
    }
  }
}
