/**
 * One log call: structured fields first, then the message, as pino takes them. An error goes under
 * `err` (pino serializes that key with its error serializer).
 */
export type LogFn = (fields: Record<string, unknown>, msg?: string) => void;

/**
 * Where xsaga writes what belongs to no saga's record: background errors, Redis outages, escalations,
 * quarantines, recovery progress and (at debug) each transition. The usual interface: a pino logger
 * fits as it is (`createEngine({ logger: pino() })`), and so does anything with these five methods.
 * xsaga never calls `console`.
 *
 * Levels used: `error` for failures no caller sees (an outcome that could not be applied, a
 * quarantined saga, any `error` event of the engine, which on Redis includes its queue's and worker's
 * outages); `warn` for the Redis errors of a standalone worker or queue (once per outage, see
 * OutageReporter) and for escalations; `info` for recovery progress; `debug` for each transition.
 * Saga-scoped lines come from `child({ sagaId })` (plus `step` where one is concerned); components
 * log under `child({ component: 'engine' | 'queue' | 'worker' })`.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * const engine = createEngine({ redis: { connection: url }, sagas: [trip], logger: pino({ level: 'info' }) });
 * const worker = createWorker({ connection: url, handlers, logger: pino().child({ app: 'billing-worker' }) });
 * ```
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger whose every line also carries `bindings` (pino's `child`). */
  child(bindings: Record<string, unknown>): Logger;
  /**
   * Whether lines at `level` are written (pino's `isLevelEnabled`). Optional: xsaga asks before it
   * builds a line it writes often (each transition, at debug), so a logger that drops it costs
   * nothing; a logger without this method is handed every line.
   */
  isLevelEnabled?(level: Exclude<LogLevel, 'silent'>): boolean;
}

/** The levels of {@link createStderrLogger}, least severe first; `silent` writes nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Options of {@link createStderrLogger}. */
export interface StderrLoggerOptions {
  /** Lines below this level are dropped. Default `warn`. */
  level?: LogLevel;
  /** Where each line goes (with its trailing newline). Default `process.stderr.write`. */
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: Number.POSITIVE_INFINITY };

/**
 * The default logger when none is given: `warn` and `error` lines, each one JSON object on one line
 * of `process.stderr` — `{"level":"warn","time":"<ISO>","name":"xsaga",...bindings,...fields,"msg":"..."}`
 * — so nothing xsaga reports is lost, and nothing is printed unless something needs attention. An
 * `err` field is written as `{ type, message, code? }`, with the `stack` on `error` lines only.
 * Pass `logger: silentLogger` to drop everything, or your own logger (pino) to route it.
 *
 * @example
 * ```ts
 * const logger = createStderrLogger({ level: 'info' }); // also recovery progress
 * ```
 */
export function createStderrLogger(options: StderrLoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? 'warn'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: Exclude<LogLevel, 'silent'>): LogFn =>
      (fields, msg) => {
        if (RANK[level] < threshold) return;
        const line = { level, time: new Date().toISOString(), name: 'xsaga', ...bindings, ...fields, msg: msg ?? '' };
        write(`${toJsonLine(line, level === 'error')}\n`);
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => make({ ...bindings, ...more }),
      isLevelEnabled: (level) => RANK[level] >= threshold,
    };
  };
  return make({});
}

const ignore: LogFn = () => undefined;

/** A logger that drops everything: `createEngine({ logger: silentLogger })`. */
export const silentLogger: Logger = Object.freeze({
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => silentLogger,
  isLevelEnabled: () => false,
});

let fallback: Logger | undefined;

/** The logger of a component given none: one shared {@link createStderrLogger} at `warn`. */
export function defaultLogger(): Logger {
  fallback ??= createStderrLogger();
  return fallback;
}

/**
 * Never throws: an Error becomes `{ type, message, code?, stack?, cause? }`, a BigInt a string, an
 * object met a second time `[Circular]`, and what JSON cannot hold (functions, symbols) is left out.
 */
function toJsonLine(line: Record<string, unknown>, withStack: boolean): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(line, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'object' && value !== null) {
        if (seen.has(value)) return '[Circular]';
        seen.add(value);
        if (value instanceof Error) return errorFields(value, withStack);
      }
      return value;
    });
  } catch {
    return JSON.stringify({ level: line.level, time: line.time, name: 'xsaga', msg: String(line.msg) });
  }
}

function errorFields(error: Error, withStack: boolean): Record<string, unknown> {
  const { code } = error as { code?: unknown };
  return {
    type: error.name,
    message: error.message,
    ...(code === undefined ? {} : { code }),
    ...(withStack && error.stack ? { stack: error.stack } : {}),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  };
}
