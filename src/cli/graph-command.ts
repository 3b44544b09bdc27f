import { Command, Option } from 'commander';
import type { AnySagaDefinition } from '../definition/types.ts';
import { buildSagaMachine } from '../machines/build-saga-machine.ts';
import { toStatelyJson } from '../machines/to-json.ts';
import { toMachineConfig } from '../machines/to-machine-config.ts';
import { toMermaid } from '../machines/to-mermaid.ts';
import { CliError } from './cli-error.ts';
import type { CliIO } from './cli-io.ts';
import { loadSagaDefinitions } from './load-definitions.ts';

/**
 * Output formats of `xsaga graph`: `mermaid` (a state diagram), `json` (the resolved
 * `machine.toJSON()` tree, see toStatelyJson), `stately` (the machine config as
 * `createMachine({...})`, which the Stately editor's Import takes; the argument is plain JSON).
 */
export const GRAPH_FORMATS = ['mermaid', 'json', 'stately'] as const;

/** An output format of `xsaga graph`. */
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** Options of {@link renderGraph}. */
export interface GraphOptions {
  format: GraphFormat;
  /** Only the definitions with this saga name; all of them when absent. */
  saga?: string;
}

/**
 * Renders saga definitions as one text: a Mermaid state diagram, the JSON of each machine, or its
 * config for the Stately editor.
 *
 * One definition gives a bare diagram (one JSON object; one `createMachine({...})` call). Several give
 * each diagram preceded by a `%% <name> v<version>` comment, a JSON array of `{ name, version, machine }`,
 * or one `createMachine` call per definition, each after a `// <name> v<version>` comment (the editor
 * imports several machines at once).
 * Throws a {@link CliError} `SAGA_NOT_FOUND`, listing the names there are, when `saga` matches none.
 *
 * @example
 * ```ts
 * process.stdout.write(renderGraph([trip], { format: 'mermaid' }));
 * ```
 */
export function renderGraph(definitions: readonly AnySagaDefinition[], options: GraphOptions): string {
  const selected = options.saga === undefined ? definitions : definitions.filter((d) => d.name === options.saga);
  if (selected.length === 0) {
    const names = [...new Set(definitions.map((d) => d.name))].join(', ');
    throw new CliError('SAGA_NOT_FOUND', `no saga named "${options.saga}"; the module exports: ${names}`);
  }
  const [only] = selected;
  if (options.format === 'stately') {
    const code = (d: AnySagaDefinition) =>
      `createMachine(${JSON.stringify(toMachineConfig(buildSagaMachine(d)), null, 2)})\n`;
    if (selected.length === 1 && only) return code(only);
    return selected.map((d) => `// ${d.name} v${d.version}\n${code(d)}`).join('\n');
  }
  if (options.format === 'json') {
    const value =
      selected.length === 1 && only
        ? toStatelyJson(buildSagaMachine(only))
        : selected.map((d) => ({ name: d.name, version: d.version, machine: toStatelyJson(buildSagaMachine(d)) }));
    return `${JSON.stringify(value, null, 2)}\n`;
  }
  if (selected.length === 1 && only) return toMermaid(buildSagaMachine(only));
  return selected.map((d) => `%% ${d.name} v${d.version}\n${toMermaid(buildSagaMachine(d))}`).join('\n');
}

/**
 * The `graph <file>` command: imports the module, finds its exported saga definitions and prints
 * their machines to `io.stdout`.
 *
 * @example
 * ```sh
 * xsaga graph src/sagas/trip.ts --format json --saga trip-booking > trip.json
 * xsaga graph src/sagas/trip.ts --format stately   # paste into the Stately editor: Code > Import
 * ```
 */
export function createGraphCommand(io: CliIO): Command {
  return new Command('graph')
    .description('print the state machine of the saga definitions a module exports')
    .argument('<file>', 'module exporting saga definitions (.ts or .js), resolved from the current directory')
    .addOption(new Option('-f, --format <format>', 'output format').choices(GRAPH_FORMATS).default('mermaid'))
    .option('-s, --saga <name>', 'only the saga with this name')
    .action(async (file: string, options: GraphOptions) => {
      const { definitions } = await loadSagaDefinitions(file, io.cwd ?? process.cwd());
      io.stdout.write(renderGraph(definitions, options));
    });
}
