import { Command } from 'commander';
import type { RecoveryProgress } from '../observability/engine-events.ts';
import { withEngine } from './cli-engine.ts';
import type { CliIO } from './cli-io.ts';
import { jsonText, warningSink } from './cli-output.ts';
import { loadSagaDefinitions } from './load-definitions.ts';
import { addRedisOptions, type RedisFlags } from './redis-options.ts';
import { sagasOption } from './saga-commands.ts';

/** Flags of `recover`. */
export interface RecoverFlags extends RedisFlags {
  /** Module exporting the saga definitions (`--sagas`, else `XSAGA_SAGAS`). */
  sagas: string;
}

/** What `--json` prints when the pass is over. */
export interface RecoverResult {
  recovered: number;
  failed: number;
}

/**
 * The `recover` command: one recovery pass over the deployment, as every engine runs on start
 * (`engine.recover()`): `Started` sagas are started, `Pending`/`Compensating` ones re-attached to
 * the job of their step (enqueued again if it is missing, its outcome handed to the engines if it
 * finished). For an operator after an outage, or when no engine has been started since. A progress
 * line goes to stderr every 100 sagas (the engine's `recovering` event); the summary to stdout.
 * Sagas of definitions the module does not export are left for the engines that have them.
 *
 * @example
 * ```sh
 * xsaga recover --sagas dist/sagas.js --prefix shop-prod
 * ```
 */
export function createRecoverCommand(io: CliIO): Command {
  const command = new Command('recover')
    .description('re-attach every unsettled saga to its work (what an engine does when it starts), with progress')
    .addOption(sagasOption());
  return addRedisOptions(command).action(async (flags: RecoverFlags) => {
    const { definitions } = await loadSagaDefinitions(flags.sagas, io.cwd ?? process.cwd());
    const result = await withEngine({ ...flags, sagas: definitions, onWarning: warningSink(io) }, async (engine) => {
      let failed = 0;
      const stop = engine.on('recovering', (progress: RecoveryProgress) => {
        failed = progress.failed;
        if (!progress.done) io.stderr.write(`recovering: ${progress.recovered} re-attached (${progress.state})\n`);
      });
      try {
        return { recovered: await engine.recover(), failed } satisfies RecoverResult;
      } finally {
        stop();
      }
    });
    io.stdout.write(
      flags.json
        ? jsonText(result)
        : `recovered ${result.recovered} saga${result.recovered === 1 ? '' : 's'}` +
            (result.failed > 0 ? `; ${result.failed} could not be re-attached (see above)\n` : '\n'),
    );
  });
}
