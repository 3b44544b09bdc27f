/**
 * Stable codes of the errors the `xsaga` command reports. Check `error.code`, never the message.
 *
 * - `FILE_NOT_FOUND`: the module path does not exist.
 * - `IMPORT_FAILED`: the module exists but threw (or failed to compile) while being imported.
 * - `NO_DEFINITIONS`: the module exports no saga definition.
 * - `SAGA_NOT_FOUND`: `--saga` names no exported definition.
 */
export type CliErrorCode = 'FILE_NOT_FOUND' | 'IMPORT_FAILED' | 'NO_DEFINITIONS' | 'SAGA_NOT_FOUND';

/**
 * A command could not do what it was asked: the message says what was wrong and what to do.
 * The CLI prints the message and exits with {@link CLI_EXIT_FAILURE}.
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
}

/** Exit code of a command that ran to the end. */
export const CLI_EXIT_OK = 0;
/** Exit code of a command that failed on its input (a {@link CliError}). */
export const CLI_EXIT_FAILURE = 1;
/** Exit code of a command line that could not be parsed (unknown option, bad `--format`, missing argument). */
export const CLI_EXIT_USAGE = 2;
