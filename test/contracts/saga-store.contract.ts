import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, SagaNotFoundError } from '../../src/errors.ts';
import type { SagaQuery, SagaRecord, SagaStore, SagaTimer, TransitionEntry } from '../../src/persistence/saga-store.ts';
import type { SagaState } from '../../src/vocabulary/states.ts';
import { flightBookedEntry } from '../support/records.ts';

/** What a contract run needs: a fresh, empty store, and how to dispose of it. */
export type MakeSagaStore = () => Promise<{ store: SagaStore; cleanup: () => Promise<void> }>;

const T0 = 1_700_000_000_000;

/** A saga record as `engine.start` writes it; `i` orders createdAt (oldest first). */
function sagaRecord(i: number, overrides: Partial<SagaRecord> = {}): SagaRecord {
  return {
    sagaId: `saga-${String(i).padStart(3, '0')}`,
    name: 'trip',
    version: 1,
    state: 'Started',
    snapshot: { status: 'active', value: 'Started', context: { index: i } },
    revision: 1,
    createdAt: T0 + i,
    updatedAt: T0 + i,
    ...overrides,
  };
}

function createdEntry(sagaId: string, at = T0): TransitionEntry {
  return { sagaId, at, from: '', to: 'Started', event: 'saga.created' };
}

/** Creates `record` with the first of `entries`, then saves one transition per entry after it. */
async function storeWithLog(store: SagaStore, record: SagaRecord, entries: TransitionEntry[]): Promise<void> {
  const [first, ...rest] = entries as [TransitionEntry, ...TransitionEntry[]];
  await store.create(record, first);
  for (const [i, entry] of rest.entries()) {
    await store.save(
      { sagaId: record.sagaId, expectedRevision: i + 1, state: 'Pending', snapshot: { i }, updatedAt: entry.at },
      entry,
    );
  }
}

function moveEntry(sagaId: string, to: SagaState, at = T0 + 1_000): TransitionEntry {
  return { sagaId, at, from: 'Started', to, event: 'saga.start' };
}

/** Every saga a query yields, following cursors; also returns the page sizes. */
async function listAll(store: SagaStore, query: SagaQuery): Promise<{ ids: string[]; sizes: number[] }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...query, ...(cursor === undefined ? {} : { cursor }) });
    ids.push(...page.items.map((record) => record.sagaId));
    sizes.push(page.items.length);
    cursor = page.cursor;
  } while (cursor !== undefined && sizes.length < 1_000);
  return { ids, sizes };
}

async function createMany(store: SagaStore, count: number, overrides: (i: number) => Partial<SagaRecord> = () => ({})) {
  const records: SagaRecord[] = [];
  for (let i = 0; i < count; i++) {
    const record = sagaRecord(i, overrides(i));
    await store.create(record, createdEntry(record.sagaId));
    records.push(record);
  }
  return records;
}

/**
 * The behaviour every {@link SagaStore} must have. Run it from a `*.test.ts` file:
 *
 * @example
 * ```ts
 * describeSagaStoreContract('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
 * ```
 */
export function describeSagaStoreContract(name: string, makeStore: MakeSagaStore): void {
  describe(`${name} (SagaStore contract)`, () => {
    let store: SagaStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('create', () => {
      it('stores the saga at revision 1 with its first log entry', async () => {
        const record = sagaRecord(1, { idempotencyKey: 'order-1' });
        const entry = createdEntry(record.sagaId);

        const result = await store.create(record, entry);

        expect(result).toStrictEqual({ record, created: true });
        expect(await store.load(record.sagaId)).toStrictEqual(record);
        expect(await store.history(record.sagaId)).toStrictEqual([entry]);
      });

      it('returns the stored saga with created: false for a sagaId already taken, and stores nothing', async () => {
        const first = sagaRecord(1);
        await store.create(first, createdEntry(first.sagaId));

        const second = {
          ...first,
          name: 'other',
          state: 'Pending' as const,
          snapshot: { other: true },
          createdAt: T0 + 9,
        };
        const result = await store.create(second, { ...createdEntry(first.sagaId), event: 'again' });

        expect(result).toStrictEqual({ record: first, created: false });
        expect(await store.load(first.sagaId)).toStrictEqual(first);
        expect(await store.history(first.sagaId)).toHaveLength(1);
        expect((await listAll(store, {})).ids).toEqual([first.sagaId]);
        expect((await store.list({ name: 'other' })).items).toEqual([]);
      });

      it('returns the existing saga for the same (name, idempotencyKey), and stores nothing', async () => {
        const first = sagaRecord(1, { idempotencyKey: 'order-1' });
        await store.create(first, createdEntry(first.sagaId));

        const retry = sagaRecord(2, { idempotencyKey: 'order-1' });
        const result = await store.create(retry, createdEntry(retry.sagaId));

        expect(result).toStrictEqual({ record: first, created: false });
        expect(await store.load(retry.sagaId)).toBeUndefined();
        expect(await store.history(retry.sagaId)).toEqual([]);
        expect((await listAll(store, {})).ids).toEqual([first.sagaId]);
      });

      it('treats the same idempotencyKey under another saga name as another saga', async () => {
        const trip = sagaRecord(1, { idempotencyKey: 'order-1' });
        const refund = sagaRecord(2, { name: 'refund', idempotencyKey: 'order-1' });
        await store.create(trip, createdEntry(trip.sagaId));

        const result = await store.create(refund, createdEntry(refund.sagaId));

        expect(result).toStrictEqual({ record: refund, created: true });
        expect((await listAll(store, {})).ids).toEqual([trip.sagaId, refund.sagaId]);
      });

      it('creates distinct sagas of one name when they have no idempotencyKey', async () => {
        const [a, b] = await createMany(store, 2);
        expect(await store.load(a?.sagaId ?? '')).toBeDefined();
        expect(await store.load(b?.sagaId ?? '')).toBeDefined();
      });

      it('creates a saga exactly once when concurrent creates race for one idempotencyKey', async () => {
        const racers = Array.from({ length: 10 }, (_, i) => sagaRecord(i, { idempotencyKey: 'order-1' }));

        const results = await Promise.all(racers.map((record) => store.create(record, createdEntry(record.sagaId))));

        const winners = results.filter((result) => result.created);
        expect(winners).toHaveLength(1);
        const winnerId = winners[0]?.record.sagaId;
        expect(results.every((result) => result.record.sagaId === winnerId)).toBe(true);
        expect((await listAll(store, {})).ids).toEqual([winnerId]);
      });
    });

    describe('save', () => {
      it('writes state, snapshot and updatedAt, and returns revisions that rise by one', async () => {
        const record = sagaRecord(1, { idempotencyKey: 'order-1' });
        await store.create(record, createdEntry(record.sagaId));

        const revisions: number[] = [];
        for (const [i, state] of (['Pending', 'Compensating', 'Failed'] as const).entries()) {
          revisions.push(
            await store.save(
              { sagaId: record.sagaId, expectedRevision: i + 1, state, snapshot: { step: i }, updatedAt: T0 + 100 + i },
              moveEntry(record.sagaId, state),
            ),
          );
        }

        expect(revisions).toEqual([2, 3, 4]);
        expect(await store.load(record.sagaId)).toStrictEqual({
          ...record,
          state: 'Failed',
          snapshot: { step: 2 },
          revision: 4,
          updatedAt: T0 + 102,
        });
      });

      it('is compare-and-set: a stale expectedRevision throws ConflictError (CONFLICT) and changes nothing', async () => {
        const record = sagaRecord(1);
        await store.create(record, createdEntry(record.sagaId));
        const update = {
          sagaId: record.sagaId,
          expectedRevision: 1,
          state: 'Pending' as const,
          snapshot: { n: 1 },
          updatedAt: T0 + 5,
        };
        await store.save(update, moveEntry(record.sagaId, 'Pending'));
        const before = await store.load(record.sagaId);
        const logBefore = await store.history(record.sagaId);

        const stale = store.save(
          { ...update, state: 'Completed', snapshot: { n: 2 } },
          moveEntry(record.sagaId, 'Completed'),
        );

        await expect(stale).rejects.toBeInstanceOf(ConflictError);
        await expect(stale).rejects.toMatchObject({ code: 'CONFLICT', sagaId: record.sagaId, expectedRevision: 1 });
        expect(await store.load(record.sagaId)).toStrictEqual(before);
        expect(await store.history(record.sagaId)).toStrictEqual(logBefore);
        expect((await store.list({ state: 'Completed' })).items).toEqual([]);
      });

      it('conflicts on an expectedRevision ahead of the stored one too', async () => {
        const record = sagaRecord(1);
        await store.create(record, createdEntry(record.sagaId));

        const ahead = store.save(
          { sagaId: record.sagaId, expectedRevision: 2, state: 'Pending', snapshot: {}, updatedAt: T0 },
          moveEntry(record.sagaId, 'Pending'),
        );

        await expect(ahead).rejects.toMatchObject({ code: 'CONFLICT' });
        expect((await store.load(record.sagaId))?.revision).toBe(1);
      });

      it('throws SagaNotFoundError (SAGA_NOT_FOUND) for an unknown saga', async () => {
        const save = store.save(
          { sagaId: 'nope', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 },
          moveEntry('nope', 'Pending'),
        );

        await expect(save).rejects.toBeInstanceOf(SagaNotFoundError);
        await expect(save).rejects.toMatchObject({ code: 'SAGA_NOT_FOUND', sagaId: 'nope' });
        expect(await store.load('nope')).toBeUndefined();
        expect(await store.history('nope')).toEqual([]);
      });

      it('lets exactly one of concurrent saves with the same expectedRevision win', async () => {
        const record = sagaRecord(1);
        await store.create(record, createdEntry(record.sagaId));

        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            store.save(
              {
                sagaId: record.sagaId,
                expectedRevision: 1,
                state: 'Pending',
                snapshot: { writer: i },
                updatedAt: T0 + i,
              },
              { ...moveEntry(record.sagaId, 'Pending'), event: `writer-${i}` },
            ),
          ),
        );

        const won = results.flatMap((result, i) =>
          result.status === 'fulfilled' ? [{ i, revision: result.value }] : [],
        );
        const lost = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
        expect(won).toHaveLength(1);
        expect(won[0]?.revision).toBe(2);
        expect(lost).toHaveLength(9);
        for (const reason of lost) expect(reason).toMatchObject({ code: 'CONFLICT' });
        const stored = await store.load(record.sagaId);
        expect(stored).toMatchObject({ revision: 2, snapshot: { writer: won[0]?.i } });
        expect((await store.history(record.sagaId)).map((entry) => entry.event)).toEqual([
          'saga.created',
          `writer-${won[0]?.i}`,
        ]);
      });
    });

    describe('load', () => {
      it('returns undefined for an unknown saga', async () => {
        expect(await store.load('unknown')).toBeUndefined();
      });

      it('returns a copy: changing it does not change the stored saga', async () => {
        const record = sagaRecord(1, { snapshot: { context: { items: [1, 2] } } });
        await store.create(record, createdEntry(record.sagaId));

        const loaded = await store.load(record.sagaId);
        expect(loaded).toBeDefined();
        (loaded as SagaRecord & { snapshot: { context: { items: number[] } } }).snapshot.context.items.push(3);

        expect(await store.load(record.sagaId)).toStrictEqual(record);
      });

      it('round-trips a JSON snapshot deeply through create and save', async () => {
        const snapshot = {
          status: 'active',
          value: { Pending: 'reserveHotel' },
          context: {
            strings: [
              '',
              'plain',
              'ünïcödé',
              '旅行の予約',
              'emoji 🧳✈️🏨',
              'quote " backslash \\ newline \n tab \t',
              '\u0000nul',
            ],
            numbers: [0, 1, -1, 1.5, -273.15, 1e21, 5e-324, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
            flags: [true, false, null],
            nested: { a: { b: { c: { d: [[], {}, [{ e: [1, [2, [3]]] }]] } } } },
            empty: {},
            'key with spaces': 'ok',
            ключ: 'значение',
          },
          children: {},
          historyValue: {},
        };
        const record = sagaRecord(1, { snapshot });
        await store.create(record, createdEntry(record.sagaId));
        expect((await store.load(record.sagaId))?.snapshot).toStrictEqual(snapshot);

        const saved = {
          ...snapshot,
          value: { Compensating: 'reserveFlight' },
          context: { ...snapshot.context, round: 2 },
        };
        await store.save(
          { sagaId: record.sagaId, expectedRevision: 1, state: 'Compensating', snapshot: saved, updatedAt: T0 + 1 },
          moveEntry(record.sagaId, 'Compensating'),
        );
        expect((await store.load(record.sagaId))?.snapshot).toStrictEqual(saved);
      });
    });

    describe('history', () => {
      it('returns every entry oldest first, each field round-tripped and absent optionals left absent', async () => {
        const record = sagaRecord(1);
        const entries: TransitionEntry[] = [
          createdEntry(record.sagaId),
          { sagaId: record.sagaId, at: T0 + 1, from: 'Started', to: 'Pending.reserveFlight', event: 'saga.start' },
          flightBookedEntry(record.sagaId, T0 + 2),
          {
            sagaId: record.sagaId,
            at: T0 + 3,
            from: 'Pending.reserveHotel',
            to: 'Compensating.reserveFlight',
            event: 'step.failed',
            step: 'reserveHotel',
            direction: 'run',
            attempt: 3,
            error: { name: 'TerminalError', message: 'no rooms — 満室', code: 'TERMINAL', terminal: true },
          },
          {
            sagaId: record.sagaId,
            at: T0 + 4,
            from: 'Compensating.reserveFlight',
            to: 'Failed',
            event: 'step.done',
            step: 'reserveFlight',
            direction: 'compensate',
            attempt: 2,
            error: { name: 'Error', message: 'first attempt timed out' },
          },
        ];
        await storeWithLog(store, record, entries);

        const history = await store.history(record.sagaId);

        expect(history).toStrictEqual(entries);
        expect(Object.keys(history[1] ?? {})).not.toContain('step');
        expect(Object.keys(history[4]?.error ?? {})).not.toContain('code');
      });

      it('keeps the from of entries that do not start where the entry before them ended', async () => {
        const record = sagaRecord(1);
        const at = (i: number) => T0 + i;
        const entries: TransitionEntry[] = [
          { sagaId: record.sagaId, at: at(0), from: 'Elsewhere', to: 'Started', event: 'saga.created' },
          { sagaId: record.sagaId, at: at(1), from: 'Started', to: 'Pending.a', event: 'saga.start' },
          { sagaId: record.sagaId, at: at(2), from: '', to: 'Pending.a', event: 'saga.signal' },
          { sagaId: record.sagaId, at: at(3), from: 'Pending.a', to: 'Pending.a', event: 'saga.signal' },
          { sagaId: record.sagaId, at: at(4), from: 'Pending.b', to: '', event: 'step.done', step: 'b', attempt: 1 },
          { sagaId: record.sagaId, at: at(5), from: '', to: 'Completed', event: 'step.done', step: 'c' },
        ];
        await storeWithLog(store, record, entries);

        expect(await store.history(record.sagaId)).toStrictEqual(entries);
      });

      it('is empty for an unknown saga', async () => {
        expect(await store.history('unknown')).toEqual([]);
      });
    });

    describe('loadSettled (optional: without it engine.waitFor calls load, then history)', () => {
      let loadSettled: NonNullable<SagaStore['loadSettled']>;

      beforeEach((ctx) => {
        if (!store.loadSettled) return ctx.skip();
        loadSettled = store.loadSettled.bind(store);
      });

      /** Creates saga 1 and walks it through `states`, one save each. */
      const walk = async (states: readonly SagaState[]) => {
        const [record] = await createMany(store, 1);
        const sagaId = record?.sagaId ?? '';
        for (const [i, state] of states.entries()) {
          await store.save(
            { sagaId, expectedRevision: i + 1, state, snapshot: { state }, updatedAt: T0 + i },
            { ...moveEntry(sagaId, state, T0 + i), from: states[i - 1] ?? 'Started' },
          );
        }
        return sagaId;
      };

      it('returns undefined for an unknown saga', async () => {
        expect(await loadSettled('unknown')).toBeUndefined();
      });

      it.each([
        ['Started', []],
        ['Pending', ['Pending']],
        ['Compensating', ['Pending', 'Compensating']],
      ] as const)('returns the record without a history while the saga is %s', async (_, states) => {
        const sagaId = await walk(states);

        const read = await loadSettled(sagaId);

        expect(read).toStrictEqual({ record: await store.load(sagaId) });
      });

      it.each([
        ['Completed', ['Pending', 'Completed']],
        ['Failed', ['Pending', 'Compensating', 'Failed']],
        ['Escalated', ['Pending', 'Compensating', 'Escalated']],
      ] as const)(
        'returns the record with the history that history() returns once the saga is %s',
        async (state, states) => {
          const sagaId = await walk(states);

          const read = await loadSettled(sagaId);

          expect(read?.record).toStrictEqual(await store.load(sagaId));
          expect(read?.record.state).toBe(state);
          expect(read?.history).toStrictEqual(await store.history(sagaId));
          expect(read?.history).toHaveLength(states.length + 1);
        },
      );

      it('returns undefined for a quarantined saga, as load does', async () => {
        const sagaId = await walk(['Pending', 'Escalated']);
        await store.quarantine(sagaId, { ...createdEntry(sagaId), to: 'Quarantined' });

        expect(await loadSettled(sagaId)).toBeUndefined();
      });
    });

    describe('list', () => {
      it('returns an empty last page, without cursor, from an empty store', async () => {
        expect(await store.list()).toStrictEqual({ items: [] });
      });

      it('returns every saga, oldest first, as stored', async () => {
        const records = await createMany(store, 5, (i) => ({ createdAt: T0 + 10 * i }));

        const page = await store.list();

        expect(page.items).toStrictEqual(records);
        expect(page.cursor).toBeUndefined();
      });

      it('filters by state, by name, and by both', async () => {
        await createMany(store, 6, (i) => ({ name: i % 2 === 0 ? 'trip' : 'refund' }));
        for (const sagaId of ['saga-000', 'saga-001', 'saga-003']) {
          await store.save(
            { sagaId, expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 + 50 },
            moveEntry(sagaId, 'Pending'),
          );
        }

        expect((await listAll(store, { state: 'Pending' })).ids).toEqual(['saga-000', 'saga-001', 'saga-003']);
        expect((await listAll(store, { state: 'Started' })).ids).toEqual(['saga-002', 'saga-004', 'saga-005']);
        expect((await listAll(store, { name: 'refund' })).ids).toEqual(['saga-001', 'saga-003', 'saga-005']);
        expect((await listAll(store, { name: 'trip', state: 'Pending' })).ids).toEqual(['saga-000']);
        expect((await listAll(store, { state: 'Completed' })).ids).toEqual([]);
        expect((await listAll(store, { name: 'unknown' })).ids).toEqual([]);
      });

      it('moves a saga between state indexes on save', async () => {
        const [record] = await createMany(store, 1);
        const sagaId = record?.sagaId ?? '';
        const states: SagaState[] = ['Pending', 'Compensating', 'Escalated', 'Compensating', 'Failed'];

        for (const [i, state] of states.entries()) {
          await store.save(
            { sagaId, expectedRevision: i + 1, state, snapshot: {}, updatedAt: T0 + i },
            moveEntry(sagaId, state),
          );
          for (const other of ['Started', 'Pending', 'Compensating', 'Escalated', 'Completed', 'Failed'] as const) {
            const page = await store.list({ state: other });
            expect(
              page.items.map((item) => item.sagaId),
              `after ${state}, list ${other}`,
            ).toEqual(other === state ? [sagaId] : []);
          }
        }
        expect((await store.list({ state: 'Failed' })).items[0]).toMatchObject({
          sagaId,
          state: 'Failed',
          revision: 6,
        });
      });

      it('pages with limit and cursor: 25 sagas by 10 give 10, 10, 5 and no cursor, with no duplicate or gap', async () => {
        const records = await createMany(store, 25);

        const { ids, sizes } = await listAll(store, { limit: 10 });

        expect(sizes).toEqual([10, 10, 5]);
        expect(ids).toEqual(records.map((record) => record.sagaId));
      });

      it('pages a filtered list without duplicate or gap', async () => {
        const records = await createMany(store, 30, (i) => ({ name: i % 3 === 0 ? 'refund' : 'trip' }));

        const { ids } = await listAll(store, { name: 'trip', limit: 7 });

        expect(ids).toEqual(records.filter((record) => record.name === 'trip').map((record) => record.sagaId));
      });

      it('keeps paging exact while listed sagas move to another state between pages', async () => {
        const records = await createMany(store, 25);
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.list({ state: 'Started', limit: 10, ...(cursor === undefined ? {} : { cursor }) });
          for (const item of page.items) {
            seen.push(item.sagaId);
            await store.save(
              { sagaId: item.sagaId, expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 + 99 },
              moveEntry(item.sagaId, 'Pending'),
            );
          }
          cursor = page.cursor;
        } while (cursor !== undefined && seen.length <= 25);

        expect(seen).toEqual(records.map((record) => record.sagaId));
        expect((await listAll(store, { state: 'Pending' })).ids).toEqual(seen);
      });

      it('serves pages of 100 by default', async () => {
        await Promise.all(
          Array.from({ length: 101 }, (_, i) => sagaRecord(i)).map((record) =>
            store.create(record, createdEntry(record.sagaId)),
          ),
        );

        const first = await store.list();

        expect(first.items).toHaveLength(100);
        expect(first.cursor).toBeDefined();
        const second = await store.list({ cursor: first.cursor as string });
        expect(second.items.map((item) => item.sagaId)).toEqual(['saga-100']);
        expect(second.cursor).toBeUndefined();
      });

      it.each([0, -1, 1.5, Number.NaN, 10_001, '10' as unknown as number])(
        'refuses limit %s with INPUT_INVALID naming limit',
        async (limit) => {
          await store.create(sagaRecord(1), createdEntry('saga-001'));
          await expect(store.list({ limit })).rejects.toMatchObject({ code: 'INPUT_INVALID', path: 'limit' });
        },
      );

      it.each(['garbage', '', '-1', '1e3', 'WyJOYU4iLCJhIl0', 42 as unknown as string, '\u0000'])(
        'refuses a cursor it did not make (%j) with INPUT_INVALID naming cursor',
        async (cursor) => {
          await store.create(sagaRecord(1), createdEntry('saga-001'));
          await expect(store.list({ cursor })).rejects.toMatchObject({ code: 'INPUT_INVALID', path: 'cursor' });
        },
      );

      it('refuses an unknown state with INPUT_INVALID naming state', async () => {
        await expect(store.list({ state: 'Bogus' as never })).rejects.toMatchObject({
          code: 'INPUT_INVALID',
          path: 'state',
        });
      });
    });

    describe('stats', () => {
      it('counts sagas by state and by name from the indexes, quarantined ones left out', async () => {
        expect(await store.stats()).toEqual({
          byState: { Started: 0, Pending: 0, Compensating: 0, Completed: 0, Failed: 0, Escalated: 0 },
          byName: {},
        });
        const [a, , c] = await createMany(store, 3, (i) => ({ state: i === 0 ? 'Pending' : 'Started' }));
        await store.create({ ...sagaRecord(9), name: 'other' }, createdEntry('saga-009'));
        if (!a || !c) throw new Error('createMany made too few sagas');
        await store.save(
          { sagaId: a.sagaId, expectedRevision: 1, state: 'Completed', snapshot: {}, updatedAt: T0 + 1 },
          { ...createdEntry(a.sagaId), from: 'Pending', to: 'Completed' },
        );
        await store.quarantine(c.sagaId, { ...createdEntry(c.sagaId), to: 'Quarantined' });

        const stats = await store.stats();
        expect(stats.byState).toEqual({
          Started: 2,
          Pending: 0,
          Compensating: 0,
          Completed: 1,
          Failed: 0,
          Escalated: 0,
        });
        expect(Object.keys(stats.byName)).toEqual([a.name, 'other'].sort());
        expect(stats.byName[a.name]).toMatchObject({ Started: 1, Completed: 1 });
        expect(stats.byName.other).toMatchObject({ Started: 1 });
      });
    });

    describe('quarantine', () => {
      it('moves a saga out of load and every listing, keeps it listed as quarantined, and logs why', async () => {
        const [bad, good] = await createMany(store, 2, () => ({ state: 'Pending' }));
        if (!bad || !good) throw new Error('createMany made too few sagas');
        const entry: TransitionEntry = {
          sagaId: bad.sagaId,
          at: T0 + 5_000,
          from: '',
          to: 'Quarantined',
          event: 'saga.quarantined',
          error: { name: 'SagaError', message: 'snapshot is not valid JSON', code: 'RECORD_CORRUPT' },
        };

        expect(await store.quarantine(bad.sagaId, entry)).toBe(true);
        // Once: a second quarantine of the same saga finds nothing to move.
        expect(await store.quarantine(bad.sagaId, entry)).toBe(false);

        expect(await store.load(bad.sagaId)).toBeUndefined();
        expect((await listAll(store, { state: 'Pending' })).ids).toEqual([good.sagaId]);
        expect((await listAll(store, {})).ids).toEqual([good.sagaId]);
        expect(await store.listQuarantined()).toEqual([bad.sagaId]);
        expect((await store.history(bad.sagaId)).at(-1)).toStrictEqual(entry);
      });

      it('ignores a saga it does not know', async () => {
        expect(await store.quarantine('never-stored', { ...createdEntry('never-stored'), to: 'Quarantined' })).toBe(
          false,
        );
        expect(await store.listQuarantined()).toEqual([]);
      });
    });

    describe('timers (optional: a store keeps all three timer methods or none)', () => {
      const LEASE = T0 + 30_000;
      let timers: TimerStore;

      beforeEach((ctx) => {
        const { claimDueTimers, settleTimer, nextTimerAt } = store;
        if (!claimDueTimers && !settleTimer && !nextTimerAt) return ctx.skip();
        expect({ claimDueTimers, settleTimer, nextTimerAt }).toEqual({
          claimDueTimers: expect.any(Function),
          settleTimer: expect.any(Function),
          nextTimerAt: expect.any(Function),
        });
        timers = store as TimerStore;
      });

      /** Saves saga `sagaId` at `revision` with `timer` (undefined: the save says nothing of it). */
      const saveTimer = (sagaId: string, revision: number, timer?: SagaTimer | null) =>
        store.save(
          {
            sagaId,
            expectedRevision: revision,
            state: 'Pending',
            snapshot: { revision },
            updatedAt: T0 + revision,
            ...(timer === undefined ? {} : { timer }),
          },
          moveEntry(sagaId, 'Pending'),
        );

      it('has no timer to tell of when none was set', async () => {
        await createMany(store, 1);
        expect(await timers.nextTimerAt()).toBeUndefined();
        expect(await timers.claimDueTimers(T0 + 1e12, LEASE, 10)).toEqual([]);
      });

      it('keeps one timer per saga: a save’s timer replaces the last one, null removes it, absent keeps it', async () => {
        await createMany(store, 1);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 + 100 });
        expect(await timers.nextTimerAt()).toBe(T0 + 100);
        await saveTimer('saga-000', 2, { id: 'saga-000~b~run', dueAt: T0 + 200 });
        expect(await timers.nextTimerAt()).toBe(T0 + 200);
        await saveTimer('saga-000', 3);
        expect(await timers.nextTimerAt()).toBe(T0 + 200);
        // The replaced timer is gone: only the saga's current one comes due.
        expect(await timers.claimDueTimers(T0 + 1_000, LEASE, 10)).toEqual(['saga-000~b~run']);

        await saveTimer('saga-000', 4, null);
        expect(await timers.nextTimerAt()).toBeUndefined();
        expect(await timers.claimDueTimers(LEASE, LEASE + 1, 10)).toEqual([]);
      });

      it('moves a timer that a save sets again with the same id and a new due time', async () => {
        await createMany(store, 1);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 + 100 });
        await saveTimer('saga-000', 2, { id: 'saga-000~a~run', dueAt: T0 + 500 });

        expect(await timers.nextTimerAt()).toBe(T0 + 500);
        expect(await timers.claimDueTimers(T0 + 499, LEASE, 10)).toEqual([]);
        expect(await timers.claimDueTimers(T0 + 500, LEASE, 10)).toEqual(['saga-000~a~run']);
      });

      it('keeps each saga’s timer apart: replacing or removing one leaves the others', async () => {
        await createMany(store, 2);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 + 100 });
        await saveTimer('saga-001', 1, { id: 'saga-001~a~run', dueAt: T0 + 200 });
        await saveTimer('saga-000', 2, null);

        expect(await timers.nextTimerAt()).toBe(T0 + 200);
        expect(await timers.claimDueTimers(T0 + 1_000, LEASE, 10)).toEqual(['saga-001~a~run']);
      });

      it('writes no timer for a save that conflicts', async () => {
        await createMany(store, 1);
        await expect(saveTimer('saga-000', 7, { id: 'saga-000~a~run', dueAt: T0 })).rejects.toMatchObject({
          code: 'CONFLICT',
        });
        expect(await timers.nextTimerAt()).toBeUndefined();
      });

      it('claims only the timers due by now, earliest first (equal due times by id), at most limit', async () => {
        const dueAts = [T0 + 300, T0 + 100, T0 + 900, T0 + 200, T0 + 100];
        await createMany(store, dueAts.length);
        for (const [i, dueAt] of dueAts.entries()) {
          await saveTimer(`saga-00${i}`, 1, { id: `saga-00${i}~a~run`, dueAt });
        }

        expect(await timers.claimDueTimers(T0 + 99, LEASE, 10)).toEqual([]);
        expect(await timers.claimDueTimers(T0 + 300, LEASE, 2)).toEqual(['saga-001~a~run', 'saga-004~a~run']);
        expect(await timers.claimDueTimers(T0 + 300, LEASE, 10)).toEqual(['saga-003~a~run', 'saga-000~a~run']);
        expect(await timers.claimDueTimers(T0 + 300, LEASE, 10)).toEqual([]);
        expect(await timers.claimDueTimers(T0 + 900, LEASE, 0)).toEqual([]);
        expect(await timers.claimDueTimers(T0 + 900, LEASE, 10)).toEqual(['saga-002~a~run']);
      });

      it('hands a due timer to one claimer, and again only once the claim’s lease ended', async () => {
        await createMany(store, 1);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 + 100 });

        const [first, second] = await Promise.all([
          timers.claimDueTimers(T0 + 100, LEASE, 10),
          timers.claimDueTimers(T0 + 100, LEASE, 10),
        ]);
        expect([...first, ...second]).toEqual(['saga-000~a~run']);
        // Claimed: due at its lease end now. The claimer died: once the lease ends, anyone may take it.
        expect(await timers.nextTimerAt()).toBe(LEASE);
        expect(await timers.claimDueTimers(LEASE - 1, LEASE + 30_000, 10)).toEqual([]);
        expect(await timers.claimDueTimers(LEASE, LEASE + 30_000, 10)).toEqual(['saga-000~a~run']);
        expect(await timers.nextTimerAt()).toBe(LEASE + 30_000);
      });

      it('lets the holder of a claim settle the timer: remove it, or move it to a new due time', async () => {
        await createMany(store, 1);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 });
        await timers.claimDueTimers(T0, LEASE, 10);

        await timers.settleTimer('saga-000~a~run', LEASE - 1); // not the claim held: nothing changes
        await timers.settleTimer('saga-000~b~run', LEASE); // no such timer: nothing changes
        expect(await timers.nextTimerAt()).toBe(LEASE);
        await timers.settleTimer('saga-000~a~run', LEASE, T0 + 5_000); // held: look again later
        expect(await timers.nextTimerAt()).toBe(T0 + 5_000);

        expect(await timers.claimDueTimers(T0 + 5_000, LEASE, 10)).toEqual(['saga-000~a~run']);
        await timers.settleTimer('saga-000~a~run', LEASE);
        expect(await timers.nextTimerAt()).toBeUndefined();
        // Removed by the settle, and still the saga's timer: a save that says nothing of it keeps nothing.
        await saveTimer('saga-000', 2);
        expect(await timers.nextTimerAt()).toBeUndefined();
      });

      it('never lets a settle undo a save that replaced, moved or removed the timer after the claim', async () => {
        await createMany(store, 1);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 });

        await timers.claimDueTimers(T0, LEASE, 10);
        await saveTimer('saga-000', 2, { id: 'saga-000~b~run', dueAt: T0 + 9_000 }); // replaced
        await timers.settleTimer('saga-000~a~run', LEASE, T0 + 1);
        expect(await timers.claimDueTimers(T0 + 8_999, LEASE, 10)).toEqual([]);
        expect(await timers.nextTimerAt()).toBe(T0 + 9_000);

        await timers.claimDueTimers(T0 + 9_000, LEASE, 10);
        await saveTimer('saga-000', 3, { id: 'saga-000~b~run', dueAt: T0 + 20_000 }); // moved
        await timers.settleTimer('saga-000~b~run', LEASE);
        expect(await timers.nextTimerAt()).toBe(T0 + 20_000);

        await timers.claimDueTimers(T0 + 20_000, LEASE, 10);
        await saveTimer('saga-000', 4, null); // removed
        await timers.settleTimer('saga-000~b~run', LEASE, T0 + 25_000);
        expect(await timers.nextTimerAt()).toBeUndefined();
      });

      it('drops a quarantined saga’s timer, claimed or not, and no other', async () => {
        await createMany(store, 3);
        await saveTimer('saga-000', 1, { id: 'saga-000~a~run', dueAt: T0 + 100 });
        await saveTimer('saga-001', 1, { id: 'saga-001~a~run', dueAt: T0 + 200 });
        await saveTimer('saga-002', 1, { id: 'saga-002~a~run', dueAt: T0 + 300 });
        expect(await timers.claimDueTimers(T0 + 100, LEASE, 10)).toEqual(['saga-000~a~run']);
        const quarantined = (sagaId: string) => ({ ...createdEntry(sagaId), to: 'Quarantined' });

        await store.quarantine('saga-000', quarantined('saga-000'));
        await store.quarantine('saga-001', quarantined('saga-001'));

        expect(await timers.nextTimerAt()).toBe(T0 + 300);
        expect(await timers.claimDueTimers(LEASE, LEASE + 1, 10)).toEqual(['saga-002~a~run']);
        await timers.settleTimer('saga-000~a~run', LEASE, T0 + 1); // its claimer comes back: too late
        expect(await timers.nextTimerAt()).toBe(LEASE + 1);
      });
    });

    describe('onSettled (optional: without it engine.waitFor polls)', () => {
      it('tells of each save that leaves a saga settled, once the save can be read, and of no other save', async (ctx) => {
        if (!store.onSettled) return ctx.skip();
        const [saga, other] = await createMany(store, 2);
        if (!saga || !other) throw new Error('createMany made too few sagas');
        const heard: string[] = [];
        const off = await store.onSettled({ settled: (sagaId) => heard.push(sagaId), resync: () => undefined });
        const save = async (sagaId: string, revision: number, state: SagaState) => {
          await store.save(
            { sagaId, expectedRevision: revision, state, snapshot: { state }, updatedAt: T0 + revision },
            moveEntry(sagaId, state),
          );
        };

        await save(saga.sagaId, 1, 'Pending');
        await save(saga.sagaId, 2, 'Escalated');
        await until(() => heard.length === 1);
        expect((await store.load(saga.sagaId))?.state).toBe('Escalated');
        // Resumed, then settled again: told again.
        await save(saga.sagaId, 3, 'Compensating');
        await save(saga.sagaId, 4, 'Failed');
        await save(other.sagaId, 1, 'Completed');
        await until(() => heard.length === 3);
        // In order, so nothing of the unsettling saves can still come after the last notice.
        expect(heard).toEqual([saga.sagaId, saga.sagaId, other.sagaId]);
        await off();
      });

      it('tells every listener, and no longer one that was removed', async (ctx) => {
        if (!store.onSettled) return ctx.skip();
        const [saga] = await createMany(store, 1);
        if (!saga) throw new Error('createMany made too few sagas');
        const first: string[] = [];
        const second: string[] = [];
        const offFirst = await store.onSettled({ settled: (sagaId) => first.push(sagaId), resync: () => undefined });
        const offSecond = await store.onSettled({ settled: (sagaId) => second.push(sagaId), resync: () => undefined });
        await offFirst();

        await store.save(
          { sagaId: saga.sagaId, expectedRevision: 1, state: 'Completed', snapshot: {}, updatedAt: T0 },
          moveEntry(saga.sagaId, 'Completed'),
        );
        await until(() => second.length === 1);
        expect(first).toEqual([]);
        await offSecond();
      });
    });
  });
}

/** A store that keeps timers. */
type TimerStore = SagaStore & Required<Pick<SagaStore, 'claimDueTimers' | 'settleTimer' | 'nextTimerAt'>>;

/** Waits until `check` holds (notices arrive after the save that causes them), at most 5 s. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
