import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isSagaDefinition } from '../definition/define-saga.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import { CliError } from './cli-error.ts';

/** The saga definitions a module exports, with the path it was loaded from. */
export interface LoadedDefinitions {
  /** Absolute path of the module. */
  path: string;
  /** Each distinct definition once, ordered by export name (a value exported under two names counts once). */
  definitions: AnySagaDefinition[];
}

/**
 * Imports the module at `file` (resolved from `cwd`) and returns every saga definition it exports:
 * any export for which `isSagaDefinition` is true, `default` included.
 *
 * Throws a {@link CliError}: `FILE_NOT_FOUND` when the path does not exist, `IMPORT_FAILED` when
 * importing throws an `Error`, `NO_DEFINITIONS` when nothing exported is a definition. A module that
 * throws something other than an `Error` has that value rethrown as is.
 *
 * @example
 * ```ts
 * const { definitions } = await loadSagaDefinitions('src/sagas/trip.ts', process.cwd());
 * ```
 */
export async function loadSagaDefinitions(file: string, cwd: string): Promise<LoadedDefinitions> {
  const path = resolve(cwd, file);
  const found = await stat(path).catch(() => undefined);
  if (!found?.isFile()) {
    throw new CliError(
      'FILE_NOT_FOUND',
      `${path} is not a file (resolved "${file}" from ${cwd}); pass the path of a module that exports a saga definition`,
    );
  }

  let exports: Record<string, unknown>;
  try {
    exports = await importModule(path);
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && CANNOT_LOAD_TYPESCRIPT.has(code)) {
      throw new CliError(
        'IMPORT_FAILED',
        `importing ${path} failed: ${error.message}; Node cannot load this TypeScript module by itself: ` +
          'install tsx (`npm install --save-dev tsx`) so xsaga can load it, or pass a .js file',
        { cause: error },
      );
    }
    throw new CliError('IMPORT_FAILED', `importing ${path} failed: ${error.message}`, { cause: error });
  }

  const definitions = [...new Set(Object.values(exports).filter(isSagaDefinition))] as AnySagaDefinition[];
  if (definitions.length === 0) {
    const names = Object.keys(exports);
    throw new CliError(
      'NO_DEFINITIONS',
      `${path} exports no saga definition (exports: ${names.length ? names.join(', ') : 'none'}); ` +
        'export the value defineSaga() returns, e.g. `export const trip = defineSaga({ ... })`',
    );
  }
  return { path, definitions };
}

/** File names of TypeScript modules. */
const TYPESCRIPT_FILE = /\.[cm]?tsx?$/;

/**
 * Codes with which Node refuses to load a TypeScript module, before any of it runs: Node 20 knows no
 * `.ts` (`ERR_UNKNOWN_FILE_EXTENSION`), newer Nodes strip types but refuse syntax that needs a
 * transform, such as `enum` (`ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX`).
 */
const CANNOT_LOAD_TYPESCRIPT = new Set(['ERR_UNKNOWN_FILE_EXTENSION', 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX']);

/**
 * Imports the module at the absolute `path`. xsaga ships plain JavaScript and no TypeScript loader:
 * when Node cannot load a `.ts` module itself, it is imported with tsx's scoped `tsImport` if the user
 * has tsx installed (an optional peer dependency; nothing is registered globally), and Node's error
 * is thrown if not. Trying Node first keeps whatever loader already runs (vitest, `node --import tsx`).
 */
async function importModule(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (!TYPESCRIPT_FILE.test(path) || code === undefined || !CANNOT_LOAD_TYPESCRIPT.has(code)) throw error;
    const tsx = await import('tsx/esm/api').catch((tsxError: unknown) => {
      if ((tsxError as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
      throw tsxError;
    });
    if (!tsx) throw error;
    return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
}
