/**
 * The package as a user gets it: `npm pack` once, then install the tarball into two throwaway projects
 * outside the repo and use it there, the way the README says.
 *
 * - a plain-Node ESM program (no TypeScript, no tsx) runs a saga on the embedded default;
 * - a strict TypeScript project (NodeNext, `skipLibCheck: false`) typechecks a saga written against the
 *   public types and runs a vitest file that uses `xsaga/testing`;
 * - the `xsaga` command runs from both.
 *
 * Needs `npm run build` first (`npm test` does it). Installs use the shared npm cache
 * (`--prefer-offline`), so after the repo's own `npm ci` they mostly stay off the network.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = fileURLToPath(new URL('consumers/', import.meta.url));

/**
 * The environment of every command: the caller's, minus what `npm run` and vitest add for their own
 * children (a nested vitest would take `VITEST_*` for its own, npm would see the repo's `npm_package_*`).
 */
const env = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !/^(npm_package_|npm_lifecycle_|VITEST|TEST$|NODE_ENV$|INIT_CWD$)/.test(key),
  ),
);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to the end and resolves to its exit code and output; never rejects on exit codes. */
async function run(cwd: string, command: string, args: readonly string[], timeoutMs = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, [...args], {
      cwd,
      env,
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Like {@link run}, but a non-zero exit fails the test with the command's output. */
async function succeed(cwd: string, command: string, args: readonly string[]): Promise<string> {
  const result = await run(cwd, command, args);
  if (result.code !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` in ${cwd} exited ${result.code}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** The version of a package installed in the repo, so a consumer installs the same one (from the cache). */
async function repoVersion(name: string): Promise<string> {
  const json = JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return `${name}@${json.version}`;
}

/** Creates a consumer project from a fixture folder and installs the tarball and `packages` into it. */
async function createConsumer(dir: string, fixture: string, tarball: string, packages: string[]): Promise<void> {
  await cp(join(fixtures, fixture), dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: `consumer-${fixture}`, private: true, type: 'module' })}\n`,
  );
  await succeed(dir, 'npm', [
    'install',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    '--loglevel=error',
    tarball,
    ...packages,
  ]);
}

/**
 * `npx --no -- <bin> ...`: runs the consumer's own installed binary and never fetches one from the
 * registry; after `--` every option (`--help`) goes to the binary, not to npx.
 */
const npx = (cwd: string, ...args: string[]) => run(cwd, 'npx', ['--no', '--', ...args]);

let work: string;
let packed: string[];
const esm = () => join(work, 'esm');
const ts = () => join(work, 'ts');

beforeAll(async () => {
  const built = await stat(join(root, 'dist/index.js')).catch(() => undefined);
  if (!built) throw new Error('dist/ is missing: run `npm run build` before the consumer checks');

  work = await mkdtemp(join(tmpdir(), 'xsaga-consumers-'));
  const pack = JSON.parse(
    await succeed(root, 'npm', ['pack', '--json', '--ignore-scripts', '--loglevel=error', '--pack-destination', work]),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = join(work, pack[0]?.filename ?? 'missing.tgz');
  packed = (pack[0]?.files ?? []).map((f) => f.path).sort();

  const zod = await repoVersion('zod');
  const toolchain = await Promise.all(['typescript', 'vitest', '@types/node', 'tsx'].map(repoVersion));
  await Promise.all([
    createConsumer(esm(), 'esm', tarball, [zod]),
    createConsumer(ts(), 'ts', tarball, [zod, ...toolchain]),
  ]);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds dist/, the bin, README, LICENSE and package.json, and nothing else', () => {
    const outside = packed.filter(
      (path) => !path.startsWith('dist/') && !['bin/xsaga.js', 'LICENSE', 'README.md', 'package.json'].includes(path),
    );
    expect(outside).toEqual([]);
    expect(packed).toEqual(
      expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/cli/main.js']),
    );
  });
});

describe('a plain-Node ESM consumer', () => {
  it('runs a saga on the embedded default and compensates newest first when the last step fails', async () => {
    const stdout = await succeed(esm(), process.execPath, ['run-saga.mjs']);
    expect(stdout.trim().split('\n')).toEqual([
      'compensate reserveCar C-t1',
      'compensate reserveHotel H-t1',
      'compensate reserveFlight F-t1',
      'state Failed, failed at chargePayment: card declined',
    ]);
  });

  it('has a working `xsaga` command', async () => {
    const help = await npx(esm(), 'xsaga', '--help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: xsaga') });

    const graph = await npx(esm(), 'xsaga', 'graph', 'trip.mjs');
    expect(graph).toMatchObject({ code: 0, stdout: expect.stringMatching(/^stateDiagram-v2\n/) });
  });

  it('says to install tsx when asked to load a TypeScript module Node cannot load', async () => {
    const graph = await npx(esm(), 'xsaga', 'graph', 'enum-saga.ts');
    expect(graph.code).toBe(1);
    expect(graph.stderr).toContain('install tsx');
    expect(graph.stderr).toContain('or pass a .js file');
  });
});

describe('a strict TypeScript consumer (NodeNext, skipLibCheck: false)', () => {
  it('typechecks a saga written against the public API and xsaga/testing', async () => {
    await succeed(ts(), process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']);
  });

  it('runs its vitest file with createSagaTestModel and checkCompensationAtEveryIndex', async () => {
    const result = await npx(ts(), 'vitest', 'run');
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the colours of vitest's summary
    expect(result.stdout.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/Tests\s+4 passed/);
  });

  it('graphs its .ts saga with the `xsaga` command, loading it with its own tsx', async () => {
    const graph = await npx(ts(), 'xsaga', 'graph', 'src/trip.ts', '--format', 'json');
    expect(graph.code, graph.stderr).toBe(0);
    expect(JSON.parse(graph.stdout)).toMatchObject({ id: 'trip-booking' });
  });
});
