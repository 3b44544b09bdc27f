import { Command, InvalidArgumentError, Option } from 'commander';
import type { SagaViewPage } from '../engine/engine-api.ts';
import type { SagaView } from '../engine/saga-view.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../persistence/list-query.ts';
import type { SagaQuery } from '../persistence/saga-store.ts';
import { type SagaState, SagaStates } from '../vocabulary/states.ts';
import { withEngine } from './cli-engine.ts';
import type { CliIO } from './cli-io.ts';
import { formatTable, isoTime, jsonText, warningSink } from './cli-output.ts';
import { addRedisOptions, type RedisFlags } from './redis-options.ts';

/** Flags of `xsaga list`. */
export interface ListFlags extends RedisFlags {
  state?: SagaState;
  name?: string;
  limit: number;
  cursor?: string;
}

/**
 * The `list` command: one page of sagas, oldest first, filtered by state and/or name, as a table
 * (`SAGA ID  NAME  VERSION  STATE  STEP  UPDATED`), or with `--json` as the engine's page:
 * `{ items: SagaView[], cursor?, quarantined? }` (views without their log). STEP names the steps in
 * flight, or the wait a saga is parked at (`approval (waiting)`). When more sagas follow, the
 * table ends with the `--cursor` to pass for the next page, and the JSON has `cursor`.
 *
 * @example
 * ```sh
 * xsaga list --state Escalated --limit 20
 * xsaga list --state Escalated --limit 20 --cursor WyIxNz...
 * ```
 */
export function createListCommand(io: CliIO): Command {
  const command = new Command('list')
    .description('list sagas, oldest first, a page at a time')
    .addOption(new Option('--state <state>', 'only sagas in this state').choices(Object.values(SagaStates)))
    .option('--name <name>', 'only sagas of this saga name')
    .addOption(
      new Option('--limit <count>', `sagas per page, 1 to ${MAX_PAGE_SIZE}`)
        .default(DEFAULT_PAGE_SIZE)
        .argParser(parseLimit),
    )
    .option('--cursor <cursor>', 'continue after the page that printed this cursor');
  return addRedisOptions(command).action(async (flags: ListFlags) => {
    const query: SagaQuery = {
      ...(flags.state !== undefined ? { state: flags.state } : {}),
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      limit: flags.limit,
      ...(flags.cursor !== undefined ? { cursor: flags.cursor } : {}),
    };
    const page = await withEngine({ ...flags, onWarning: warningSink(io) }, (engine) => engine.list(query));
    if (page.quarantined) {
      io.stderr.write(
        `xsaga: left out ${page.quarantined.length} saga(s) whose stored record was unusable, now quarantined: ${page.quarantined.join(', ')}\n`,
      );
    }
    io.stdout.write(flags.json ? jsonText(listJson(page)) : renderList(page, flags.cursor !== undefined));
  });
}

/** The `--json` shape, keys in a fixed order: `items`, then `cursor` and `quarantined` when present. */
function listJson(page: SagaViewPage): SagaViewPage {
  return {
    items: page.items,
    ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
    ...(page.quarantined === undefined ? {} : { quarantined: page.quarantined }),
  };
}

function renderList(page: SagaViewPage, continued: boolean): string {
  if (page.items.length === 0) return continued ? 'no more sagas\n' : 'no sagas\n';
  const table = formatTable(
    [
      { header: 'SAGA ID' },
      { header: 'NAME' },
      { header: 'VERSION', align: 'right' },
      { header: 'STATE' },
      { header: 'STEP' },
      { header: 'UPDATED' },
    ],
    page.items.map((view) => [
      view.sagaId,
      view.name,
      String(view.version),
      view.state,
      stepOf(view),
      isoTime(view.updatedAt),
    ]),
  );
  return page.cursor === undefined ? table : `${table}\nmore: --cursor ${page.cursor}\n`;
}

/**
 * The step worth a glance: the ones in flight (running or compensating) or parked at a wait
 * (`approval (waiting)`), else the compensation that escalated, else the step whose failure rolled
 * the saga back.
 */
export function stepOf(view: SagaView): string {
  const active = view.steps.flatMap((s) =>
    s.status === 'running' || s.status === 'compensating'
      ? [s.name]
      : s.status === 'waiting'
        ? [`${s.name} (waiting)`]
        : [],
  );
  if (active.length > 0) return active.join(',');
  return view.escalation?.step ?? view.failure?.step ?? '-';
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^[0-9]+$/.test(value) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError(`use a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  }
  return limit;
}
