/**
 * Entry point of the `xsaga` command, built to `dist/cli/main.js`, which `bin/xsaga.js` imports: runs
 * the command line and sets the exit code. Everything else lives in `run-cli.ts`.
 */
import { runCli } from './run-cli.ts';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
