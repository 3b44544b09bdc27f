/** min / median / max of a set of runs: how every figure in this benchmark is reported. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  runs: number[];
}

/** The spread of `values` (at least one). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] as number,
    median: median(sorted),
    max: sorted[sorted.length - 1] as number,
    runs: [...values],
  };
}

/** Median of values (sorted or not). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of values (sorted or not). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Ratio of medians: how the headline `ratio a/b` lines are computed. */
export function ratioOfMedians(a: readonly number[], b: readonly number[]): number {
  return median(a) / median(b);
}

/** Per-run ratios a[i]/b[i] of interleaved runs (round i of a ran next to round i of b). */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => value / (b[i] as number));
}
