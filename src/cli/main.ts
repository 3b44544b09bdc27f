/**
 * Entry point of the `xsaga` command (run by `bin/xsaga.js` under tsx): runs the command line and
 * sets the exit code. Everything else lives in `run-cli.ts`.
 */
import { runCli } from './run-cli.ts';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
