import { type Clock, systemClock } from '../clock.ts';
import type { Logger } from './logger.ts';

/**
 * Node's socket error codes for "Redis cannot be reached". ioredis reconnects by itself after each of
 * them, and BullMQ re-emits every failed attempt: one outage is dozens of identical errors.
 */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

/** Names of the errors BullMQ and ioredis raise for a lost connection (they carry no `code`). */
const CONNECTION_ERROR_NAMES: ReadonlySet<string> = new Set(['ConnectionClosedError', 'MaxRetriesPerRequestError']);

/**
 * What the reporter listens to: a BullMQ Queue or Worker. `error` carries every connection failure
 * (re-emitted on each reconnect attempt); the backend's `ready` fires each time one of its
 * connections is usable again (the Worker's own `ready` fires only once, at start).
 */
export interface ConnectionEventSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
  getBackend(): { on(event: 'ready', listener: () => void): unknown };
}

/** How long a repeated error that is not about the connection stays quiet after it was reported. */
export const REPEAT_AFTER_MS = 60_000;

/** Kinds of error remembered at most; past it, the expired ones are forgotten. */
const MAX_KINDS = 64;

/**
 * Turns the error events of BullMQ connections into few reports. BullMQ re-emits a failure on every
 * retry: every reconnect attempt of an outage, and, when a connection is up but a command keeps
 * failing (an ACL without INFO, say), a worker loop that can emit the same error thousands of times
 * a second. So:
 *
 * - An outage starts with the first connection error (a socket error code such as ECONNREFUSED, or a
 *   closed connection) and ends when a watched connection is ready again. That first error is
 *   reported; every error in between is a consequence of the same outage and is not.
 * - Any other error is reported, then an identical one (same name, code and message) is quiet for
 *   {@link REPEAT_AFTER_MS} or until a connection is ready again. A different error is reported at
 *   once: nothing is swallowed for good.
 *
 * One reporter can watch several Queues and Workers on the same Redis, so an outage they all see
 * is still reported once.
 *
 * @example
 * ```ts
 * const outage = new OutageReporter((error) => engine.reportError(error));
 * outage.watch(queue);
 * outage.watch(worker);
 * ```
 */
export class OutageReporter {
  readonly #report: (error: unknown) => void;
  readonly #clock: Pick<Clock, 'now'>;
  /** Kinds of non-connection error reported lately, with when. */
  readonly #recent = new Map<string, number>();
  #down = false;

  constructor(report: (error: unknown) => void, clock: Pick<Clock, 'now'> = systemClock) {
    this.#report = report;
    this.#clock = clock;
  }

  /** Routes a Queue's or Worker's errors here (and so gives it an `error` listener: no raw traces). */
  watch(source: ConnectionEventSource): void {
    source.on('error', (error) => this.error(error));
    source.getBackend().on('ready', () => this.ready());
  }

  /** An error from a watched connection: reported unless it is part of something already reported. */
  error(error: unknown): void {
    if (this.#down) return;
    if (isConnectionError(error)) {
      this.#down = true;
      this.#report(error);
      return;
    }
    const kind = kindOf(error);
    const now = this.#clock.now();
    const reportedAt = this.#recent.get(kind);
    if (reportedAt !== undefined && now - reportedAt < REPEAT_AFTER_MS) return;
    this.#remember(kind, now);
    this.#report(error);
  }

  /** A watched connection is usable again: the outage, if any, is over, and every error is news. */
  ready(): void {
    this.#down = false;
    this.#recent.clear();
  }

  #remember(kind: string, now: number): void {
    if (this.#recent.size >= MAX_KINDS) {
      for (const [known, at] of this.#recent) if (now - at >= REPEAT_AFTER_MS) this.#recent.delete(known);
      // Still full of live kinds (messages that differ each time): start over rather than grow.
      if (this.#recent.size >= MAX_KINDS) this.#recent.clear();
    }
    this.#recent.set(kind, now);
  }
}

/** Identity of an error for "the same error again": not a decision about what it means. */
function kindOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return `value:${String(error)}`;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  return `${String(name)}|${String(code)}|${String(message)}`;
}

/** True for errors that mean the connection to Redis is lost or cannot be made. */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  return (
    (typeof code === 'string' && CONNECTION_CODES.has(code)) ||
    (typeof name === 'string' && CONNECTION_ERROR_NAMES.has(name))
  );
}

/**
 * The default report of a component with no `onError`: one `warn` line per report the OutageReporter
 * lets through, on the component's logger (the error under `err`; the default logger writes no stack
 * trace for it).
 *
 * @example
 * ```ts
 * const outage = new OutageReporter(options.onError ?? warnOnLogger(logger.child({ component: 'worker' })));
 * ```
 */
export function warnOnLogger(logger: Logger): (error: unknown) => void {
  return (error) => {
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (isConnectionError(error)) {
      logger.warn({ err: error }, `Redis connection lost (${what}); retrying, quiet until it is back`);
    } else {
      logger.warn({ err: error }, what);
    }
  };
}
