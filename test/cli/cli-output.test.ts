import { describe, expect, it } from 'vitest';
import { describeErrorInfo, formatTable, isoTime, jsonText, oneLine } from '../../src/cli/cli-output.ts';

describe('CLI output', () => {
  it('aligns table columns two spaces apart, numbers to the right, with no trailing spaces', () => {
    const table = formatTable(
      [{ header: 'NAME' }, { header: 'COUNT', align: 'right' }, { header: 'NOTE' }],
      [
        ['trip-booking', '12', 'busy'],
        ['refund', '3', ''],
      ],
    );
    expect(table).toBe(
      ['NAME          COUNT  NOTE', 'trip-booking     12  busy', 'refund            3', ''].join('\n'),
    );
  });

  it('keeps each cell on one line, so a message with a newline cannot break the rows below it', () => {
    const table = formatTable([{ header: 'ERROR' }, { header: 'STEP' }], [['timed out\n  after 30 s', 'charge']]);
    expect(table).toBe('ERROR                 STEP\ntimed out after 30 s  charge\n');
    expect(oneLine('  a\r\n\n b  ')).toBe('a b');
  });

  it('prints JSON indented by two spaces with a final newline, keys in the order given', () => {
    expect(jsonText({ b: 1, a: [true] })).toBe('{\n  "b": 1,\n  "a": [\n    true\n  ]\n}\n');
  });

  it('prints times as UTC ISO 8601 and errors as name (code): message', () => {
    expect(isoTime(Date.UTC(2025, 0, 31, 9, 15))).toBe('2025-01-31T09:15:00.000Z');
    expect(describeErrorInfo({ name: 'TerminalError', code: 'TERMINAL', message: 'card declined' })).toBe(
      'TerminalError (TERMINAL): card declined',
    );
    expect(describeErrorInfo({ name: 'Error', message: 'boom' })).toBe('Error: boom');
    expect(describeErrorInfo(undefined)).toBe('');
  });
});
