import { meets, meetsTarget, type ScenarioReport } from './report.ts';
import { median, spread } from './stats.ts';

/** A number for a table cell: 3 significant digits, no exponent for everyday magnitudes. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** The ratio as printed on its `ratio ...:` line. */
export function fmtRatio(value: number): string {
  return value.toFixed(3);
}

/** The table of one scenario, then its `ratio <name>: <value>` lines and notes. */
export function renderScenario(report: ScenarioReport): string {
  const header = ['metric', 'min', 'median', 'max', 'unit'];
  const lines: string[][] = report.rows.map((row) => {
    const s = spread(row.values);
    return [row.metric, fmt(s.min), fmt(s.median), fmt(s.max), row.unit];
  });
  for (const ratio of report.ratios) {
    const s = spread(ratio.perRound);
    lines.push([`ratio ${ratio.name} (per round)`, fmtRatio(s.min), fmtRatio(s.median), fmtRatio(s.max), 'x']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const render = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 || i === 4 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  const out = [`\n== ${report.title}`, render(header), render(widths.map((w) => '-'.repeat(w)))];
  for (const line of lines) out.push(render(line));
  out.push('');
  for (const ratio of report.ratios) {
    const verdict = meetsTarget(ratio);
    const target =
      ratio.target === undefined
        ? ''
        : `   (target ${ratio.target.op} ${ratio.target.value}: ${verdict ? 'met' : 'MISSED'}${verdictNote(ratio, verdict)})`;
    out.push(`ratio ${ratio.name}: ${fmtRatio(ratio.value)}${target}`);
  }
  for (const row of report.rows) {
    if (!row.target) continue;
    const value = median(row.values);
    const verdict = meets(value, row.target) ? 'met' : 'MISSED';
    out.push(
      `target ${row.metric} ${row.target.op} ${row.target.value} ${row.unit}: median ${fmt(value)} (${verdict})`,
    );
  }
  for (const note of report.notes) out.push(`  note: ${note}`);
  return out.join('\n');
}

/** When the ratio of the medians meets the target and the per-round median does not, say so. */
function verdictNote(ratio: ScenarioReport['ratios'][number], verdict: boolean | undefined): string {
  if (verdict || ratio.perRound.length === 0 || !meets(ratio.value, ratio.target)) return '';
  return `: the median of the per-round ratios is ${fmtRatio(spread(ratio.perRound).median)}`;
}
