import { Command } from 'commander';
import { withEngine } from './cli-engine.ts';
import type { CliIO } from './cli-io.ts';
import { jsonText, warningSink } from './cli-output.ts';
import { addRedisOptions, type RedisFlags } from './redis-options.ts';
import { renderSaga } from './render-saga.ts';

/**
 * The `show <sagaId>` command: one saga with its steps and its saga log as a timeline, or with
 * `--json` the engine's `SagaView` (what `engine.get` returns: `sagaId, name, version, state,
 * input, steps, completed, compensated, skipped, failure?, escalation?, resolution?, revision,
 * createdAt, updatedAt, history`). An unknown id exits 1 (`SAGA_NOT_FOUND`).
 *
 * @example
 * ```sh
 * xsaga show 0b6f2c1e-4d1a-4c55-9d43-5c1f0e6a9b7d --prefix shop-prod
 * ```
 */
export function createShowCommand(io: CliIO): Command {
  const command = new Command('show')
    .description('show a saga: state, steps, failure, escalation and its saga log')
    .argument('<sagaId>', 'id of the saga');
  return addRedisOptions(command).action(async (sagaId: string, flags: RedisFlags) => {
    const view = await withEngine({ ...flags, onWarning: warningSink(io) }, (engine) => engine.get(sagaId));
    io.stdout.write(flags.json ? jsonText(view) : renderSaga(view));
  });
}
