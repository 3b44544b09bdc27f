import { median } from './stats.ts';

/** One measured figure of a scenario: one value per round. */
export interface Row {
  metric: string;
  unit: string;
  /** One value per round, in round order. */
  values: number[];
  /** A target the brief sets on this figure's median, e.g. `<= 2048` bytes. */
  target?: { op: '>=' | '<='; value: number };
}

/** A headline ratio, printed as `ratio <name>: <value>` (value = ratio of the medians). */
export interface Ratio {
  name: string;
  value: number;
  /** Per-round ratios of the interleaved runs, for the spread. */
  perRound: number[];
  /** The target, e.g. `>= 0.5`, if the brief sets one. */
  target?: { op: '>=' | '<='; value: number };
}

/** What a scenario hands back to the runner. */
export interface ScenarioReport {
  id: string;
  title: string;
  /** N and other parameters, for the results file and README. */
  params: Record<string, number | string | boolean>;
  rows: Row[];
  ratios: Ratio[];
  notes: string[];
}

/** A scenario module's export. */
export interface Scenario {
  id: string;
  title: string;
  run(ctx: import('./context.ts').BenchContext): Promise<ScenarioReport>;
}

/** Whether `value` meets `target` (undefined when there is none). */
export function meets(value: number, target: Ratio['target']): boolean | undefined {
  if (!target) return undefined;
  return target.op === '>=' ? value >= target.value : value <= target.value;
}

/**
 * Whether a ratio meets its target (undefined when it has none): the ratio of the medians AND the
 * median of the per-round ratios. Either alone can be flattered by noise: one slow round on one
 * side moves a median without its pair, and the per-round pairs ran back to back.
 */
export function meetsTarget(ratio: Ratio): boolean | undefined {
  const overall = meets(ratio.value, ratio.target);
  if (overall === undefined || ratio.perRound.length === 0) return overall;
  return overall && meets(median(ratio.perRound), ratio.target) === true;
}
