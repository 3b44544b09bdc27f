import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { isSagaError, type SagaErrorCode } from '../errors.ts';
import { CLI_EXIT_FAILURE, CLI_EXIT_OK, CLI_EXIT_USAGE, CliError } from './cli-error.ts';
import type { CliIO } from './cli-io.ts';
import { oneLine } from './cli-output.ts';
import { createGraphCommand } from './graph-command.ts';
import { createListCommand } from './list-command.ts';
import { createRecoverCommand } from './recover-command.ts';
import { createSagaCommands } from './saga-commands.ts';
import { createShowCommand } from './show-command.ts';
import { createSignalCommand } from './signal-command.ts';
import { createStatsCommand } from './stats-command.ts';

/**
 * Codes of xsaga errors that say the backend failed (a connection lost mid-command, a permission
 * denied), not that the engine refused: like an unreachable Redis they exit {@link CLI_EXIT_USAGE}.
 */
const BACKEND_FAILURES: readonly SagaErrorCode[] = ['STORE_FAILED', 'QUEUE_FAILED'];

const EXIT_CODES_HELP = `
Exit codes:
  0  done
  1  refused: the engine said no (e.g. INVALID_STATE, SAGA_NOT_FOUND, SIGNAL_INVALID), or the module is not usable
  2  usage error (a signal payload that is not JSON too), or Redis could not be reached or failed`;

/**
 * Runs the `xsaga` command line in-process and resolves to its exit code; never calls
 * `process.exit`. `argv` holds the user's arguments only (`process.argv.slice(2)`).
 *
 * Commands: `list`, `show`, `resume`, `resolve`, `cancel`, `signal`, `stats`, `recover`, `graph`.
 * Exit codes: {@link CLI_EXIT_OK} on success (and for `--help`/`--version`); {@link CLI_EXIT_FAILURE}
 * when the command was refused (any xsaga error from the engine, or a {@link CliError} about the
 * module or saga named), printed as one line `xsaga: <message>`; {@link CLI_EXIT_USAGE} when the
 * command line is wrong (commander prints why; a `signal` payload that is not JSON says why on one
 * line) or Redis cannot be reached or fails. Any other error is a bug and is rethrown.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const output = {
    writeOut: (text: string) => io.stdout.write(text),
    writeErr: (text: string) => io.stderr.write(text),
  };
  const program = new Command('xsaga')
    .description(
      'operate xsaga sagas: inspect them in Redis, resume, resolve, cancel or signal them, draw their machines',
    )
    .version(packageJson.version)
    .configureOutput(output)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);
  const commands = [
    createListCommand(io),
    createShowCommand(io),
    ...createSagaCommands(io),
    createSignalCommand(io),
    createStatsCommand(io),
    createRecoverCommand(io),
    createGraphCommand(io),
  ];
  for (const command of commands) program.addCommand(command.copyInheritedSettings(program));

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return CLI_EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    const exitCode = exitCodeOf(error);
    if (exitCode === undefined) throw error;
    io.stderr.write(`xsaga: ${oneLine((error as Error).message)}\n`);
    return exitCode;
  }
}

/** The exit code of an error a command reports, or undefined for one it does not expect (a bug). */
function exitCodeOf(error: unknown): number | undefined {
  if (error instanceof CliError) return error.exitCode;
  if (!isSagaError(error)) return undefined;
  return BACKEND_FAILURES.includes(error.code) ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
}
