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
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if (!(error instanceof Error)) throw error;
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
