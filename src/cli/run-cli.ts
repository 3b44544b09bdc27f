import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { CLI_EXIT_FAILURE, CLI_EXIT_OK, CLI_EXIT_USAGE, CliError } from './cli-error.ts';
import type { CliIO } from './cli-io.ts';
import { createGraphCommand } from './graph-command.ts';

/**
 * Runs the `xsaga` command line in-process and resolves to its exit code; never calls
 * `process.exit`. `argv` holds the user's arguments only (`process.argv.slice(2)`).
 *
 * Exit codes: {@link CLI_EXIT_OK} on success (and for `--help`/`--version`), {@link CLI_EXIT_FAILURE}
 * when a command fails on its input (a {@link CliError}, printed as `xsaga: <message>`),
 * {@link CLI_EXIT_USAGE} when the command line is wrong (commander prints why). Any other error is
 * a bug and is rethrown.
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
    .description('tools for xsaga sagas')
    .version(packageJson.version)
    .configureOutput(output)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(createGraphCommand(io).copyInheritedSettings(program));

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return CLI_EXIT_OK;
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr.write(`xsaga: ${error.message}\n`);
      return CLI_EXIT_FAILURE;
    }
    if (error instanceof CommanderError) return error.exitCode === 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    throw error;
  }
}
