/** An opaque handle of a timer set through a {@link Clock}. */
export type TimerHandle = unknown;

/**
 * Time as the engine sees it. Injected so tests can move time by hand instead of sleeping through
 * backoff delays and timeouts.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** Randomness as the engine sees it: a number in [0, 1). Injected so jitter is reproducible in tests. */
export type Random = () => number;

/**
 * The real clock. Its timers keep the process alive on purpose: a backoff pending in the embedded
 * engine is unfinished work, and exiting would drop it.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
