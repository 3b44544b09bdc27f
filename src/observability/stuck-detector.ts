import { type SagaState, SagaStates } from '../vocabulary/states.ts';
import type { StuckReport, StuckSaga } from './instrumentation.ts';

/** Default of `EngineOptions.stuck.afterMs`: a saga that has not moved for 15 minutes is stuck. */
export const DEFAULT_STUCK_AFTER_MS = 15 * 60_000;
/** Default of `EngineOptions.stuck.checkIntervalMs`. */
export const DEFAULT_STUCK_CHECK_INTERVAL_MS = 60_000;
/** The longest delay Node's timers take (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `EngineOptions.stuck`: how often to look, and the default threshold. */
export interface StuckCheckOptions {
  checkIntervalMs?: number;
  afterMs?: number;
}

/**
 * The stuck-check settings with defaults filled in, or false when turned off.
 *
 * @throws TypeError naming the option when a value is not a whole number of milliseconds in range.
 */
export function resolveStuckOptions(given: StuckCheckOptions | false | undefined): Required<StuckCheckOptions> | false {
  if (given === false) return false;
  const checkIntervalMs = given?.checkIntervalMs ?? DEFAULT_STUCK_CHECK_INTERVAL_MS;
  const afterMs = given?.afterMs ?? DEFAULT_STUCK_AFTER_MS;
  for (const [key, value] of [
    ['checkIntervalMs', checkIntervalMs],
    ['afterMs', afterMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) {
      throw new TypeError(
        `stuck.${key} must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${String(value)}; pass stuck: false to turn the check off`,
      );
    }
  }
  return { checkIntervalMs, afterMs };
}

/** Records read per page of the walk. */
const PAGE_SIZE = 500;
/** The states in which a saga waits on work in flight: where a saga can be stuck. */
const WATCHED: readonly SagaState[] = [SagaStates.Pending, SagaStates.Compensating];

/** What the walk needs of each listed saga (a subset of SagaView). */
export interface ListedSaga {
  sagaId: string;
  name: string;
  version: number;
  state: SagaState;
  revision: number;
  updatedAt: number;
  steps: ReadonlyArray<{ name: string; status: string }>;
}

/** What a {@link StuckDetector} is given by its engine. */
export interface StuckDetectorParts {
  /** One page of sagas in a state, from the state index (`engine.list`). */
  list(query: { state: SagaState; limit: number; cursor?: string }): Promise<{ items: ListedSaga[]; cursor?: string }>;
  /** The threshold of a saga: its definition's `stuckAfterMs`, else the default. */
  thresholdOf(name: string, version: number): number;
  /** The engine clock. */
  now(): number;
  intervalMs: number;
  onStuck(saga: StuckSaga): void;
  onReport(report: StuckReport): void;
  onError(error: unknown): void;
}

/**
 * Finds sagas that stopped moving: in `Pending` or `Compensating` with no transition for longer than
 * their threshold (a worker gone, a queue stalled, a lost job). Every `intervalMs` it walks the two
 * state indexes a page at a time (never a scan of every key) and compares each record's `updatedAt`
 * with the clock. A stuck saga is announced once per revision: again only if it moves and then
 * stops again. The passes run on real timers that do not keep the process alive (not on the
 * engine's injected clock, whose timers tests drain); ages are read from the injected clock.
 */
export class StuckDetector {
  readonly #parts: StuckDetectorParts;
  /** Stuck sagas already announced, with the revision they were stuck at. */
  #announced = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(parts: StuckDetectorParts) {
    this.#parts = parts;
  }

  /** Schedules the passes; the first runs after one interval. */
  start(): void {
    if (this.#stopped || this.#timer) return;
    this.#schedule();
  }

  /** Stops the passes; a pass in progress ends without announcing anything more. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One pass: announces newly stuck sagas and returns the counts (also given to `onReport`). */
  async check(): Promise<StuckReport> {
    const at = this.#parts.now();
    const counts: StuckReport['counts'] = {};
    const current = new Map<string, number>();
    for (const state of WATCHED) {
      let cursor: string | undefined;
      do {
        const page = await this.#parts.list({ state, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
        if (this.#stopped) return { at, counts };
        for (const saga of page.items) {
          const thresholdMs = this.#parts.thresholdOf(saga.name, saga.version);
          const stuckForMs = at - saga.updatedAt;
          // The state index may lag a saga that moved on since the page was read: trust the record.
          if (saga.state !== state || stuckForMs < thresholdMs) continue;
          // Parked at a wait or sleep, or a dynamic saga waiting for its agent (Pending with no step in
          // flight): not stuck, its signal, its agent or its deadline (in the timer set) moves it.
          const busy = saga.steps.some((s) => s.status === 'running' || s.status === 'compensating');
          if (saga.steps.some((s) => s.status === 'waiting') || (state === 'Pending' && !busy)) continue;
          const byState = counts[saga.name] ?? {};
          byState[state] = (byState[state] ?? 0) + 1;
          counts[saga.name] = byState;
          current.set(saga.sagaId, saga.revision);
          if (this.#announced.get(saga.sagaId) === saga.revision) continue;
          const step = saga.steps.find((s) => s.status === 'running' || s.status === 'compensating')?.name;
          this.#parts.onStuck({
            sagaId: saga.sagaId,
            name: saga.name,
            version: saga.version,
            state,
            ...(step ? { step } : {}),
            since: saga.updatedAt,
            stuckForMs,
            thresholdMs,
            revision: saga.revision,
          });
        }
        cursor = page.cursor;
      } while (cursor);
    }
    // Forget sagas that moved or settled, so the map stays as small as the set of stuck sagas.
    this.#announced = current;
    const report = { at, counts };
    this.#parts.onReport(report);
    return report;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.check()
        .catch((error: unknown) => {
          if (!this.#stopped) this.#parts.onError(error);
        })
        .finally(() => {
          if (!this.#stopped) this.#schedule();
        });
    }, this.#parts.intervalMs);
    this.#timer.unref();
  }
}
