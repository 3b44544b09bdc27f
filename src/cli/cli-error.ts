/**
 * Stable codes of the errors the `xsaga` command reports. Check `error.code`, never the message.
 *
 * - `FILE_NOT_FOUND`: the module path does not exist.
 * - `IMPORT_FAILED`: the module exists but threw (or failed to compile) while being imported.
 * - `NO_DEFINITIONS`: the module exports no saga definition.
 * - `SAGA_NOT_FOUND`: `--saga` names no exported definition.
 * - `DEFINITION_MISSING`: the `--sagas` module does not export the definition (name and version) a
 *   stored saga was started with, so a command cannot be applied to it.
 * - `REDIS_UNREACHABLE`: no connection to Redis could be made (refused, timed out, authentication).
 * - `PAYLOAD_INVALID`: the payload of `signal` is not JSON, or its `--payload-file` cannot be read.
 */
export type CliErrorCode =
  | 'FILE_NOT_FOUND'
  | 'IMPORT_FAILED'
  | 'NO_DEFINITIONS'
  | 'SAGA_NOT_FOUND'
  | 'DEFINITION_MISSING'
  | 'REDIS_UNREACHABLE'
  | 'PAYLOAD_INVALID';

/** Exit code of a command that ran to the end. */
export const CLI_EXIT_OK = 0;
/**
 * Exit code of a command that was refused: the engine said no (`INVALID_STATE`, `SAGA_NOT_FOUND`,
 * `RECORD_CORRUPT`, any other xsaga error), or the module or saga named on the command line is not
 * usable. Running it again unchanged gives the same answer.
 */
export const CLI_EXIT_FAILURE = 1;
/**
 * Exit code of a command that could not run: a command line that does not parse (unknown option,
 * bad `--format`, missing argument or `--sagas`, a `signal` payload that is not JSON), or a Redis
 * that cannot be reached or failed mid-command. Nothing is known about the saga; fix the invocation
 * or the environment and retry.
 */
export const CLI_EXIT_USAGE = 2;

/** The exit code of each {@link CliErrorCode}: usage and environment problems are not refusals. */
const EXIT_CODES: Record<CliErrorCode, number> = {
  FILE_NOT_FOUND: CLI_EXIT_FAILURE,
  IMPORT_FAILED: CLI_EXIT_FAILURE,
  NO_DEFINITIONS: CLI_EXIT_FAILURE,
  SAGA_NOT_FOUND: CLI_EXIT_FAILURE,
  DEFINITION_MISSING: CLI_EXIT_FAILURE,
  REDIS_UNREACHABLE: CLI_EXIT_USAGE,
  PAYLOAD_INVALID: CLI_EXIT_USAGE,
};

/**
 * A command could not do what it was asked: the message says what was wrong and what to do.
 * The CLI prints the message and exits with {@link CliError.exitCode}.
 *
 * @example
 * ```ts
 * throw new CliError('NO_DEFINITIONS', 'sagas.ts exports no saga definition; export the value defineSaga() returns');
 * ```
 */
export class CliError extends Error {
  /** Stable, machine-readable reason. */
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** {@link CLI_EXIT_FAILURE}, or {@link CLI_EXIT_USAGE} for usage and connection problems. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}
