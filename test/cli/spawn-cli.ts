import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type CliRun, ROOT } from './run-in-process.ts';

/** The built CLI that `bin/xsaga.js` runs; `npm run build` writes it (and `npm test` builds first). */
const BUILT_CLI = resolve(ROOT, 'dist/cli/main.js');

/** A CLI that has not exited by then is hung (a connection left open, a retry loop). */
const EXIT_TIMEOUT_MS = 20_000;

/** A subprocess run: what {@link CliRun} holds, and how long the process took from spawn to exit. */
export interface SpawnedRun extends CliRun {
  ms: number;
}

/**
 * The one way the tests start the CLI as a separate process: `node bin/xsaga.js <args>` from the
 * repository root, the command as published, running the built CLI. Resolves with the exit code,
 * output and duration; rejects if the process is still running after 20 s, since every command must
 * close its connections and exit on its own. `XSAGA_SAGAS` is not inherited unless `env` sets it.
 *
 * @example
 * ```ts
 * const { code, stderr } = await spawnCli(['resume', sagaId, '--prefix', prefix, '--sagas', SAGAS_MODULE]);
 * ```
 */
export async function spawnCli(args: readonly string[], env: Record<string, string> = {}): Promise<SpawnedRun> {
  if (!existsSync(BUILT_CLI)) {
    throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
  }
  const { XSAGA_SAGAS: _inherited, ...inherited } = process.env;
  const started = Date.now();
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['bin/xsaga.js', ...args],
      { cwd: ROOT, env: { ...inherited, ...env }, timeout: EXIT_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const ms = Date.now() - started;
        if (error?.killed) {
          fail(new Error(`xsaga ${args.join(' ')} did not exit within ${EXIT_TIMEOUT_MS} ms\n${stderr}`));
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr, ms });
      },
    );
  });
}
