import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeLog,
  decodeLogEntry,
  encodeLogEntry,
  UNREADABLE_LOG_ENTRY,
} from '../../src/persistence/record-schema.ts';
import type { TransitionEntry } from '../../src/persistence/saga-store.ts';
import { flightBookedEntry } from '../support/records.ts';

const AT = 1_796_135_471_886;

/** Entries of every shape the interface allows, with state paths that do and do not name the step. */
const entry: fc.Arbitrary<TransitionEntry> = fc
  .record(
    {
      at: fc.integer({ min: 0, max: 4_000_000_000_000 }),
      from: fc.oneof(
        fc.constantFrom('', 'Started', 'Pending.a', 'Pending.b', 'Compensating.a', 'Completed', 'Pending.', '.a'),
        fc.string({ maxLength: 12 }),
      ),
      to: fc.oneof(
        fc.constantFrom('Pending.b', 'Compensating.a', 'Failed', 'Quarantined'),
        fc.string({ maxLength: 12 }),
      ),
      event: fc.oneof(fc.constantFrom('step.done', 'step.failed', 'saga.start', 'saga.created'), fc.string()),
      step: fc.oneof(fc.constantFrom('a', 'b'), fc.string({ maxLength: 8 })),
      direction: fc.constantFrom('run' as const, 'compensate' as const),
      attempt: fc.integer({ min: 0, max: 10 }),
      error: fc.record(
        { name: fc.string(), message: fc.string(), code: fc.string(), terminal: fc.boolean() },
        { requiredKeys: ['name', 'message'] },
      ),
    },
    { requiredKeys: ['at', 'from', 'to', 'event'] },
  )
  // Through JSON: plain objects, as an entry is when it reaches the store.
  .map((fields) => JSON.parse(JSON.stringify({ sagaId: 'saga-1', ...fields })) as TransitionEntry);

describe('stored log entries', () => {
  it('read back exactly as written, whatever fields an entry has', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(decodeLogEntry('saga-1', 0, encodeLogEntry(e))).toStrictEqual(e);
      }),
      { numRuns: 2_000 },
    );
  });

  it('leave out the sagaId, and the step and direction a step outcome leaves from', () => {
    const done: TransitionEntry = flightBookedEntry('saga-1', AT);
    expect(encodeLogEntry(done)).toBe(
      `{"at":${AT},"f":"Pending.reserveFlight","t":"Pending.reserveHotel","e":"step.done","a":1}`,
    );
    const undo: TransitionEntry = {
      ...done,
      from: 'Compensating.reserveFlight',
      to: 'Failed',
      direction: 'compensate',
    };
    expect(encodeLogEntry(undo)).toBe(
      `{"at":${AT},"f":"Compensating.reserveFlight","t":"Failed","e":"step.done","a":1}`,
    );
    expect(decodeLogEntry('saga-1', 0, encodeLogEntry(undo))).toStrictEqual(undo);
  });

  it('name the step when the state it leaves from does not', () => {
    const cancelled: TransitionEntry = {
      sagaId: 'saga-1',
      at: AT,
      from: 'Pending.b',
      to: 'Compensating.a',
      event: 'step.done',
      step: 'a',
      direction: 'run',
      attempt: 2,
    };
    expect(JSON.parse(encodeLogEntry(cancelled))).toMatchObject({ s: 'a', d: 'run', a: 2 });
  });

  it('still read the full entries of logs written before the short form', () => {
    const line =
      '{"at":1796135471886,"from":"Pending.reserveFlight","to":"Pending.reserveHotel","event":"step.done","step":"reserveFlight","direction":"run","attempt":1}';
    expect(decodeLogEntry('saga-1', 3, line)).toStrictEqual(flightBookedEntry('saga-1', 1_796_135_471_886));
  });

  it('keep an entry with a field the short form does not know in full', () => {
    const extra = { sagaId: 'saga-1', at: AT, from: '', to: 'Started', event: 'saga.created', note: 'x' };
    expect(JSON.parse(encodeLogEntry(extra as TransitionEntry))).toEqual({
      at: AT,
      from: '',
      to: 'Started',
      event: 'saga.created',
      note: 'x',
    });
  });

  it('show a line that is neither form as an unreadable entry', () => {
    for (const line of ['{"at":1,"f":2,"t":"","e":""}', '{"at":1,"from":"","to":""}', '[]', '{']) {
      expect(decodeLogEntry('saga-1', 0, line).event).toBe(UNREADABLE_LOG_ENTRY);
    }
  });

  describe('without f', () => {
    /**
     * What the save script stores (see saveSaga in redis-scripts.ts): the line without f when the
     * log's last line ends where the entry starts (its `to`, else its `t`), or the log is empty and
     * the entry starts from ''.
     */
    function append(log: string[], entry: TransitionEntry): void {
      const last = log.at(-1);
      let end: string | undefined = '';
      if (last !== undefined) {
        const value = JSON.parse(last) as { to?: unknown; t?: unknown };
        end =
          typeof value.to === 'string'
            ? value.to
            : !('to' in value) && typeof value.t === 'string'
              ? value.t
              : undefined;
      }
      log.push(encodeLogEntry(entry, end === entry.from));
    }

    it('leaves f out when told that the entry starts where the log ends, as a step outcome does', () => {
      const done: TransitionEntry = flightBookedEntry('saga-1', AT);
      const line = encodeLogEntry(done, true);

      expect(line).toBe(`{"at":${AT},"t":"Pending.reserveHotel","e":"step.done","a":1}`);
      const before = `{"at":${AT - 1},"t":"Pending.reserveFlight","e":"saga.start"}`;
      expect(decodeLog('saga-1', [before, line])[1]).toStrictEqual(done);
    });

    it('keeps f for a from that UTF-8 cannot tell from another (a lone surrogate), even when told', () => {
      const entry: TransitionEntry = { sagaId: 'saga-1', at: AT, from: 'Pending.\ud800', to: 'Failed', event: 'e' };
      expect(JSON.parse(encodeLogEntry(entry, true))).toMatchObject({ f: 'Pending.\ud800' });
    });

    it('reads back every log exactly as written, whichever entries start where the one before ended', () => {
      const chained = fc.array(fc.tuple(entry, fc.boolean()), { maxLength: 12 }).map((pairs) => {
        // About half the entries start where the one before ended, as the engine's all do.
        let previousTo = '';
        return pairs.map(([e, chain]) => {
          const linked = chain ? { ...e, from: previousTo } : e;
          previousTo = linked.to;
          return linked;
        });
      });
      fc.assert(
        fc.property(chained, (entries) => {
          const log: string[] = [];
          for (const e of entries) append(log, e);
          expect(decodeLog('saga-1', log)).toStrictEqual(entries);
        }),
        { numRuns: 1_000 },
      );
    });

    it('reads a log mixing full lines, short lines with f and short lines without', () => {
      const log = [
        `{"at":1,"from":"","to":"Started","event":"saga.created"}`,
        `{"at":2,"t":"Pending.a","e":"saga.start"}`,
        `{"at":3,"f":"Pending.a","t":"Pending.b","e":"step.done","a":1}`,
        `{"at":4,"t":"Completed","e":"step.done","a":2}`,
      ];
      expect(decodeLog('saga-1', log).map(({ from, to, step }) => [from, to, step])).toEqual([
        ['', 'Started', undefined],
        ['Started', 'Pending.a', undefined],
        ['Pending.a', 'Pending.b', 'a'],
        ['Pending.b', 'Completed', 'b'],
      ]);
    });

    it('reads from as "" where nothing before says: the first line of a trimmed log, after a line that is not an object with a t', () => {
      const log = [
        `{"at":2,"t":"Pending.a","e":"saga.start"}`,
        '{not json',
        `{"at":3,"t":"Pending.b","e":"step.done","a":1}`,
        '{"at":"yesterday","t":"Pending.c"}',
        `{"at":4,"t":"Completed","e":"step.done"}`,
      ];
      expect(decodeLog('saga-1', log).map(({ from, event }) => [from, event])).toEqual([
        ['', 'saga.start'],
        ['', UNREADABLE_LOG_ENTRY],
        ['', 'step.done'],
        ['', UNREADABLE_LOG_ENTRY],
        // An unreadable line that still says where it ended (its t) is where the next one starts.
        ['Pending.c', 'step.done'],
      ]);
      expect(decodeLogEntry('saga-1', 0, log[0] as string).from).toBe('');
    });
  });
});
