import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run-cli.ts';

/** The repository root: the CLI's working directory in the tests. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a run of the CLI gave: its exit code and everything it wrote. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process (no spawn, no exit) from the repository root, capturing its output. */
export async function runInProcess(...argv: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    cwd: ROOT,
  });
  return { code, stdout, stderr };
}
