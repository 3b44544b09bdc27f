import type { Clock } from '../clock.ts';
import { SagaError } from '../errors.ts';
import type { SagaView } from './saga-view.ts';

/** How often a waiter also reads the store, for sagas moved by another engine process. */
const POLL_MS = 500;

type Resolve = (view: SagaView) => void;

/**
 * The callers of `engine.waitFor`, by saga. A waiter is resolved by the transition that settles the
 * saga in this process (`settle`), or by a poll of the store when another process moved it.
 */
export class SettleWaiters {
  readonly #waiting = new Map<string, Set<Resolve>>();
  readonly #clock: Clock;
  readonly #settledView: (sagaId: string) => Promise<SagaView | undefined>;

  constructor(clock: Clock, settledView: (sagaId: string) => Promise<SagaView | undefined>) {
    this.#clock = clock;
    this.#settledView = settledView;
  }

  /** Whether anyone waits for the saga. */
  has(sagaId: string): boolean {
    return this.#waiting.has(sagaId);
  }

  /** Resolves everyone waiting for the saga with its settled view. */
  settle(sagaId: string, view: SagaView): void {
    for (const resolve of [...(this.#waiting.get(sagaId) ?? [])]) resolve(view);
  }

  /** Resolves with the saga's view once it is settled; rejects after `timeoutMs` if given. */
  wait(sagaId: string, timeoutMs?: number): Promise<SagaView> {
    return new Promise<SagaView>((resolve, reject) => {
      let timer: unknown;
      const waiters = this.#waiting.get(sagaId) ?? new Set();
      // Real time on purpose, unref'd: polling is not saga time and must not keep a process alive.
      const poll = setInterval(() => {
        this.#settledView(sagaId).then(
          (view) => view && done(view),
          () => undefined,
        );
      }, POLL_MS);
      poll.unref();
      const stop = () => {
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiting.get(sagaId) === waiters) this.#waiting.delete(sagaId);
        clearInterval(poll);
        if (timer !== undefined) this.#clock.clearTimeout(timer);
      };
      const done = (view: SagaView) => {
        stop();
        resolve(view);
      };
      waiters.add(done);
      this.#waiting.set(sagaId, waiters);
      if (timeoutMs !== undefined) {
        timer = this.#clock.setTimeout(() => {
          stop();
          reject(new SagaError('WAIT_TIMEOUT', `saga "${sagaId}" did not settle within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      // Registered first, read second: a transition in between still reaches the waiter.
      this.#settledView(sagaId).then(
        (view) => view && done(view),
        (error: unknown) => {
          stop();
          reject(error);
        },
      );
    });
  }
}
