import { Command } from 'commander';
import type { SagaCounts, SagaStats } from '../persistence/saga-store.ts';
import { type SagaState, SagaStates } from '../vocabulary/states.ts';
import { withEngine } from './cli-engine.ts';
import type { CliIO } from './cli-io.ts';
import { formatTable, jsonText, warningSink } from './cli-output.ts';
import { addRedisOptions, type RedisFlags } from './redis-options.ts';

const STATES: readonly SagaState[] = Object.values(SagaStates);

/**
 * The `stats` command: how many sagas are in each state, overall and by saga name, counted from the
 * store's indexes (no saga is read). A table per grouping, or with `--json`
 * `{ byState: { Started, Pending, Compensating, Completed, Failed, Escalated }, byName: { <name>: {
 * ...the same states } } }`, states always in that order and names sorted.
 *
 * @example
 * ```sh
 * xsaga stats --prefix shop-prod --json | jq .byState.Escalated
 * ```
 */
export function createStatsCommand(io: CliIO): Command {
  const command = new Command('stats').description('count sagas by state and by saga name');
  return addRedisOptions(command).action(async (flags: RedisFlags) => {
    const stats = ordered(await withEngine({ ...flags, onWarning: warningSink(io) }, (engine) => engine.stats()));
    io.stdout.write(flags.json ? jsonText(stats) : renderStats(stats));
  });
}

/** The stats with keys in the documented order, whatever order the store built them in. */
function ordered(stats: SagaStats): SagaStats {
  const counts = (of: Partial<SagaCounts>) => Object.fromEntries(STATES.map((s) => [s, of[s] ?? 0])) as SagaCounts;
  const names = Object.keys(stats.byName).sort();
  return {
    byState: counts(stats.byState),
    byName: Object.fromEntries(names.map((name) => [name, counts(stats.byName[name] ?? {})])),
  };
}

function renderStats(stats: SagaStats): string {
  const total = (counts: SagaCounts) => STATES.reduce((sum, s) => sum + counts[s], 0);
  const byState = formatTable(
    [{ header: 'STATE' }, { header: 'SAGAS', align: 'right' }],
    [...STATES.map((s) => [s, String(stats.byState[s])]), ['total', String(total(stats.byState))]],
  );
  const names = Object.entries(stats.byName);
  if (names.length === 0) return byState;
  const byName = formatTable(
    [{ header: 'NAME' }, ...[...STATES, 'total'].map((header) => ({ header, align: 'right' as const }))],
    names.map(([name, counts]) => [name, ...STATES.map((s) => String(counts[s])), String(total(counts))]),
  );
  return `${byState}\n${byName}`;
}
