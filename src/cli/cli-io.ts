/** Somewhere a command writes text: `process.stdout`, or a buffer in tests. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * What a command talks to instead of `process`: so `runCli` runs in-process in tests, without
 * spawning and without exiting.
 *
 * @example
 * ```ts
 * const io: CliIO = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
 * ```
 */
export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
  /** Directory that relative module paths are resolved from. Default: `process.cwd()`. */
  cwd?: string;
}
