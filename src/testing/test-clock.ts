import type { Clock, TimerHandle } from '../clock.ts';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock that only moves when told, so tests check backoff delays and timeouts without sleeping.
 * Every requested delay is recorded in `delays` for assertions.
 *
 * @example
 * ```ts
 * const clock = createTestClock();
 * const engine = createEngine({ handlers, clock, random: () => 0 });
 * await engine.start(saga, input);
 * await clock.advance(100); // fires the first retry
 * ```
 */
export class TestClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers: Timer[] = [];
  /** Every delay passed to `setTimeout`, in call order. */
  readonly delays: number[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.delays.push(ms);
    this.#timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    const index = this.#timers.findIndex((t) => t.id === handle);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in time order. Between timers it lets pending
   * promise callbacks and I/O callbacks run, so work a timer starts can schedule the next timer.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (!next || next.at > target) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = target;
  }

  /** Fires timers until none is left (or `limit` have fired), moving time as far as needed. */
  async runAll(limit = 10_000): Promise<void> {
    await settle();
    for (let fired = 0; fired < limit; fired++) {
      const next = this.#earliest();
      if (!next) return;
      await this.advance(next.at - this.#now);
    }
    throw new Error(`TestClock.runAll: still ${this.#timers.length} timers after firing ${limit}`);
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    return best;
  }
}

/** Lets promise chains and already-due I/O callbacks run: a few turns of the event loop. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A {@link TestClock} starting at `start` ms (default 0). */
export function createTestClock(start = 0): TestClock {
  return new TestClock(start);
}
