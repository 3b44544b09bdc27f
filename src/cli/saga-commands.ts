import { Command, Option } from 'commander';
import type { AnySagaDefinition } from '../definition/types.ts';
import type { Engine } from '../engine/create-engine.ts';
import type { SagaView } from '../engine/saga-view.ts';
import { SagaStates } from '../vocabulary/states.ts';
import { withEngine } from './cli-engine.ts';
import { CliError } from './cli-error.ts';
import type { CliIO } from './cli-io.ts';
import { jsonText, warningSink } from './cli-output.ts';
import { loadSagaDefinitions } from './load-definitions.ts';
import { addRedisOptions, type RedisFlags } from './redis-options.ts';

/** Flags of `resume`, `resolve` and `cancel`. */
export interface SagaCommandFlags extends RedisFlags {
  /** Module exporting the saga definitions (`--sagas`, else `XSAGA_SAGAS`). */
  sagas: string;
  /** `resolve` only: what the person did by hand. */
  note?: string;
}

/** What `--json` prints after a command took effect, keys in this order. */
export interface SagaCommandResult {
  sagaId: string;
  command: 'resume' | 'resolve' | 'cancel';
  /** The saga's state read right after the command (it may already have moved on). */
  state: SagaView['state'];
}

interface CommandSpec {
  name: SagaCommandResult['command'];
  description: string;
  /** Past tense, for the line printed after it took effect. */
  done: string;
  apply: (engine: Engine, sagaId: string, flags: SagaCommandFlags) => Promise<void>;
}

const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'resume',
    description: 'retry the compensations an Escalated saga has left, from the one that ran out of retries',
    done: 'resumed',
    apply: (engine, sagaId) => engine.resume(sagaId),
  },
  {
    name: 'resolve',
    description: 'record that a person fixed an Escalated saga by hand: it ends Failed, with the note',
    done: 'resolved',
    apply: (engine, sagaId, flags) => engine.resolve(sagaId, flags.note ?? ''),
  },
  {
    name: 'cancel',
    description: 'cancel a Started or Pending saga: its completed steps are compensated and it ends Failed',
    done: 'cancelled',
    apply: (engine, sagaId) => engine.cancel(sagaId),
  },
];

/**
 * The commands an operator applies to one saga: `resume`, `resolve [--note]` and `cancel`. Each is
 * the engine's command of that name, decided atomically against the saved state: one that does not
 * apply exits 1 with the engine's reason (`INVALID_STATE`), an unknown id exits 1
 * (`SAGA_NOT_FOUND`). They need the saga definitions (`--sagas <module>` or `XSAGA_SAGAS`) because
 * the command runs through the saga's machine. After it took effect a line names the saga's state;
 * `--json` prints `{ sagaId, command, state }`.
 *
 * @example
 * ```sh
 * XSAGA_SAGAS=dist/sagas.js xsaga resolve 0b6f2c1e-... --note "refunded by hand, ticket OPS-42"
 * ```
 */
export function createSagaCommands(io: CliIO): Command[] {
  return COMMANDS.map((spec) => {
    const command = new Command(spec.name)
      .description(spec.description)
      .argument('<sagaId>', 'id of the saga')
      .addOption(sagasOption());
    if (spec.name === 'resolve') command.option('--note <text>', 'what was done by hand, kept in the saga');
    return addRedisOptions(command).action(async (sagaId: string, flags: SagaCommandFlags) => {
      // The module first: a typo in its path should not cost a connection.
      const { path, definitions } = await loadSagaDefinitions(flags.sagas, io.cwd ?? process.cwd());
      const state = await withEngine({ ...flags, sagas: definitions, onWarning: warningSink(io) }, async (engine) => {
        requireDefinition(await engine.get(sagaId), definitions, path);
        await spec.apply(engine, sagaId, flags);
        return (await engine.get(sagaId)).state;
      });
      const result: SagaCommandResult = { sagaId, command: spec.name, state };
      io.stdout.write(
        flags.json ? jsonText(result) : `${spec.done} saga "${sagaId}"; it is now ${describeState(result)}\n`,
      );
    });
  });
}

/**
 * The `--sagas <module>` option of every command that changes a saga (`XSAGA_SAGAS` when absent):
 * mandatory, so a missing one is a usage error before anything is opened. A new `Option` per call:
 * each command owns its options.
 */
export function sagasOption(): Option {
  return new Option('--sagas <module>', 'module exporting the saga definitions (.ts or .js)')
    .env('XSAGA_SAGAS')
    .makeOptionMandatory();
}

/**
 * Refuses a saga whose definition (name and version) the module does not export, before any
 * command reaches the engine. The engine quarantines a saga whose name it knows but whose version
 * it does not (in a deployment that means the record is wrong); from a CLI it more likely means an
 * out-of-date `--sagas` module, which must not move a healthy saga aside.
 */
export function requireDefinition(view: SagaView, definitions: readonly AnySagaDefinition[], path: string): void {
  if (definitions.some((d) => d.name === view.name && d.version === view.version)) return;
  const exported = definitions.map((d) => `${d.name} v${d.version}`).join(', ');
  throw new CliError(
    'DEFINITION_MISSING',
    `saga "${view.sagaId}" was started with "${view.name}" version ${view.version}, which ${path} does not export ` +
      `(it exports ${exported}); pass --sagas a module that exports that definition`,
  );
}

function describeState({ command, state }: SagaCommandResult): string {
  if (command === 'cancel' && state === SagaStates.Pending) {
    return 'Pending: the step in flight finishes first, then the completed steps are compensated';
  }
  return state;
}
