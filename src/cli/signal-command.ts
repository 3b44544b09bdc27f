import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { SagaView } from '../engine/saga-view.ts';
import { withEngine } from './cli-engine.ts';
import { CliError } from './cli-error.ts';
import type { CliIO } from './cli-io.ts';
import { jsonText, oneLine, warningSink } from './cli-output.ts';
import { loadSagaDefinitions } from './load-definitions.ts';
import { addRedisOptions, type RedisFlags } from './redis-options.ts';
import { requireDefinition, sagasOption } from './saga-commands.ts';

/** Flags of `signal`. */
export interface SignalFlags extends RedisFlags {
  /** Module exporting the saga definitions (`--sagas`, else `XSAGA_SAGAS`). */
  sagas: string;
  /** The sender's id of the signal: sending it again changes nothing (`engine.signal`'s `signalId`). */
  signalId?: string;
  /** A file holding the payload as JSON, instead of the `[payload]` argument. */
  payloadFile?: string;
}

/** What `--json` prints after the signal was applied (or recognised as a repeat), keys in this order. */
export interface SignalCommandResult {
  sagaId: string;
  command: 'signal';
  /** The wait the signal was for. */
  wait: string;
  /** True when a signal with this `--signal-id` had already been applied: nothing changed now. */
  duplicate: boolean;
  /** The saga's state right after the signal (it may already have moved on). */
  state: SagaView['state'];
}

/**
 * The `signal <sagaId> <wait> [payload]` command: answers a saga parked at a wait, as
 * `engine.signal(sagaId, wait, payload, { signalId })` does. The payload is one JSON value (the
 * argument, else `--payload-file`, else `{}`); one that is not JSON is a usage error (exit 2) before
 * anything is opened. The engine decides the rest against the saved state, and a refusal exits 1
 * with its reason: `SIGNAL_INVALID` (no wait of that name, or a payload its schema refuses, naming
 * the field), `SIGNAL_NOT_AWAITED` (the saga is not parked there), `SAGA_NOT_FOUND`. Like `resume`,
 * it needs the saga definitions (`--sagas <module>` or `XSAGA_SAGAS`). `--json` prints
 * `{ sagaId, command: 'signal', wait, duplicate, state }`.
 *
 * @example
 * ```sh
 * XSAGA_SAGAS=dist/sagas.js xsaga signal 0b6f2c1e-... approval '{"approved":true,"by":"ana"}' --signal-id mail-7
 * ```
 */
export function createSignalCommand(io: CliIO): Command {
  const command = new Command('signal')
    .description('answer a saga parked at a wait with a signal: it goes on with the payload (or rolls back)')
    .argument('<sagaId>', 'id of the saga')
    .argument('<wait>', 'name of the wait the saga is parked at')
    .argument('[payload]', 'the payload as JSON, quoted for the shell (default {})')
    .addOption(sagasOption())
    .option('--payload-file <path>', 'read the payload (JSON) from this file instead')
    .option('--signal-id <id>', 'your id of this signal: sending it again changes nothing');
  return addRedisOptions(command).action(
    async (sagaId: string, wait: string, text: string | undefined, flags: SignalFlags) => {
      const cwd = io.cwd ?? process.cwd();
      // The payload first: like a command line that does not parse, a bad one costs no connection.
      const payload = await readPayload(text, flags.payloadFile, cwd);
      const { path, definitions } = await loadSagaDefinitions(flags.sagas, cwd);
      const { duplicate, state } = await withEngine(
        { ...flags, sagas: definitions, onWarning: warningSink(io) },
        async (engine) => {
          requireDefinition(await engine.get(sagaId), definitions, path);
          return engine.signal(sagaId, wait, payload, flags.signalId === undefined ? {} : { signalId: flags.signalId });
        },
      );
      const result: SignalCommandResult = { sagaId, command: 'signal', wait, duplicate, state };
      const repeat = duplicate ? ` (a repeat of signal "${flags.signalId}": nothing changed)` : '';
      io.stdout.write(
        flags.json ? jsonText(result) : `signalled "${wait}" of saga "${sagaId}"${repeat}; it is now ${state}\n`,
      );
    },
  );
}

/** The payload given, parsed; `PAYLOAD_INVALID` when it cannot be read or is not JSON. */
async function readPayload(text: string | undefined, file: string | undefined, cwd: string): Promise<unknown> {
  if (file === undefined) return parseJson(text ?? '{}', 'the payload');
  if (text !== undefined) {
    throw new CliError('PAYLOAD_INVALID', 'give the payload as an argument or with --payload-file, not both');
  }
  const path = resolve(cwd, file);
  const content = await readFile(path, 'utf8').catch((error: unknown) => {
    if (!(error instanceof Error)) throw error;
    throw new CliError('PAYLOAD_INVALID', `--payload-file ${path} could not be read: ${error.message}`, {
      cause: error,
    });
  });
  return parseJson(content, `--payload-file ${path}`);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new CliError(
      'PAYLOAD_INVALID',
      `${what} is not JSON (${oneLine(error.message)}); pass one JSON value quoted for the shell, e.g. '{"approved":true}'`,
      { cause: error },
    );
  }
}
