import type { ErrorInfo } from '../vocabulary/events.ts';
import type { CliIO } from './cli-io.ts';

/** One column of {@link formatTable}: its header and how its cells line up. */
export interface TableColumn {
  header: string;
  /** `right` for numbers, so their digits line up. Default `left`. */
  align?: 'left' | 'right';
}

/**
 * Lays rows out as an aligned text table: a header line, then one line per row, columns two spaces
 * apart, no trailing spaces. Cells are made single-line (see {@link oneLine}) so a message with a
 * newline cannot break the alignment of the rows below it.
 *
 * @example
 * ```ts
 * formatTable([{ header: 'STATE' }, { header: 'COUNT', align: 'right' }], [['Failed', '3']]);
 * // 'STATE   COUNT\nFailed      3\n'
 * ```
 */
export function formatTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((row) => columns.map((_, i) => oneLine(row[i] ?? '')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] as string).length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => (columns[i]?.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/**
 * The `--json` output of every command: two-space indented JSON and a newline. Keys come out in the
 * order the value was built in, which each command fixes (and documents), so the output is stable.
 */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A time stored as milliseconds since the epoch, as UTC ISO 8601 (`2025-01-31T09:15:00.000Z`). */
export function isoTime(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

/** Collapses line breaks and the whitespace around them into one space: a cell or a stderr line stays one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** An error recorded in a saga, for a person: `TerminalError (TERMINAL): card declined`. */
export function describeErrorInfo(error: ErrorInfo | undefined): string {
  if (!error) return '';
  const code = error.code === undefined ? '' : ` (${error.code})`;
  return oneLine(`${error.name}${code}: ${error.message}`);
}

/**
 * Where a command's background errors go (a BullMQ connection that dropped): one
 * `xsaga: warning: ...` line each on stderr. The command's own calls fail with a typed error too;
 * these say what happened in the background meanwhile.
 */
export function warningSink(io: CliIO): (error: unknown) => void {
  return (error) => {
    const text = error instanceof Error ? error.message : String(error);
    io.stderr.write(`xsaga: warning: ${oneLine(text)}\n`);
  };
}
