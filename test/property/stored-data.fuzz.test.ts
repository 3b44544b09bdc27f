import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { readStoredSnapshot } from '../../src/engine/compact-snapshot.ts';
import { persistedSnapshotOf } from '../../src/engine/restore-actor.ts';
import { buildSagaMachine, createEngine, isSagaError } from '../../src/index.ts';
import { createRedisStore } from '../../src/persistence/redis-store.ts';
import { countKeys, dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

/**
 * Fuzzing what is stored: one saga's record (its hash, or its snapshot key), log or an index entry
 * is corrupted, field by field,
 * with values of the wrong type, NaN, empty, huge, and valid JSON of the wrong shape; then an
 * engine with workers meets the tenant. Whatever the corruption:
 *
 * - reads never fail with anything but a typed SagaError, and listing never fails at all;
 * - the healthy saga beside it settles, as if nothing happened;
 * - the corrupted saga ends settled or quarantined (once), never stuck in a half state;
 * - the work is bounded: the number of keys (jobs, outcomes) does not grow with retries.
 */

/** The hash's fields, and `snapshot`: where the layout before the snapshot key kept it (the key wins). */
const HASH_FIELDS = [
  'sagaId',
  'name',
  'version',
  'state',
  'snapshot',
  'revision',
  'createdAt',
  'updatedAt',
  'idempotencyKey',
] as const;

/** Values of the wrong kind for any string field: empty, not numbers, huge, JSON of other shapes. */
const badValue = fc.oneof(
  fc.constantFrom('', ' ', 'NaN', 'abc', '-1', '0', '1.5', '1e309', 'Infinity', '9'.repeat(400), '{', '}', 'null'),
  fc.constantFrom('Pending', 'Completed', 'Escalated', 'trip-booking', '2', '99'),
  fc.constant('x'.repeat(200_000)),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 40 }),
);

/** Paths of the compact snapshot the engine writes (`{ v, c }`, see compact-snapshot.ts). */
const COMPACT_PATHS: ReadonlyArray<readonly string[]> = [
  ['v'],
  ['c'],
  ['c', 'input'],
  ['c', 'sagaId'],
  ['c', 'steps'],
  ['c', 'steps', 'reserveFlight'],
  ['c', 'steps', 'reserveFlight', 'status'],
  ['c', 'steps', 'reserveFlight', 'attempts'],
  ['c', 'steps', 'reserveFlight', 'compensationAttempts'],
  ['c', 'completed'],
  ['c', 'compensated'],
  ['c', 'skipped'],
  ['c', 'rounds'],
  ['c', 'rounds', 'reserveFlight'],
  ['c', 'cancelRequested'],
  ['c', 'failure'],
  ['c', 'escalation'],
  ['status'],
  ['children'],
];

/** Paths of XState's persisted snapshot, which records written before the compact shape hold. */
const PERSISTED_PATHS: ReadonlyArray<readonly string[]> = [
  ['value'],
  ['status'],
  ['context'],
  ['context', 'sagaId'],
  ['context', 'steps'],
  ['context', 'steps', 'reserveFlight'],
  ['context', 'steps', 'reserveFlight', 'status'],
  ['context', 'steps', 'reserveFlight', 'attempts'],
  ['context', 'completed'],
  ['context', 'compensated'],
  ['context', 'rounds'],
  ['context', 'cancelRequested'],
  ['context', 'failure'],
  ['context', 'escalation'],
  ['children'],
  ['historyValue'],
  ['v'],
];

const snapshotValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(Number.NaN, -1, 1e308, '', [], {}, null));

/**
 * A snapshot path to replace, and what to put there (valid JSON of a wrong shape, mostly): in the
 * compact snapshot as stored, or after turning it into the persisted snapshot an older version wrote.
 */
const snapshotEdit = fc.oneof(
  fc.record({ shape: fc.constant('compact' as const), path: fc.constantFrom(...COMPACT_PATHS), value: snapshotValue }),
  fc.record({
    shape: fc.constant('persisted' as const),
    path: fc.constantFrom(...PERSISTED_PATHS),
    value: snapshotValue,
  }),
);

const corruption = fc.oneof(
  fc.record({ kind: fc.constant('field' as const), field: fc.constantFrom(...HASH_FIELDS), value: badValue }),
  fc.record({ kind: fc.constant('drop-field' as const), field: fc.constantFrom(...HASH_FIELDS) }),
  fc.record({ kind: fc.constant('snapshot' as const), edit: snapshotEdit }),
  fc.record({
    kind: fc.constant('key-type' as const),
    key: fc.constantFrom('saga' as const, 'snapshot' as const, 'log' as const),
    as: fc.constantFrom('string' as const, 'list' as const, 'zset' as const, 'hash' as const),
  }),
  fc.record({ kind: fc.constant('log-line' as const), line: badValue }),
  fc.record({
    kind: fc.constant('index' as const),
    index: fc.constantFrom('all', 'state:Pending', 'state:Completed', 'name:trip-booking'),
    member: fc.oneof(fc.constantFrom('', 'no-such-saga', '}{', 'a:b', 'x'.repeat(5_000)), fc.string({ maxLength: 20 })),
    score: fc.constantFrom('0', '-inf', '+inf', '1e300', '-5'),
  }),
);

type Corruption = ReturnType<typeof corruption.generate>['value'];

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node: Record<string, unknown> = target;
  for (const part of path.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path.at(-1) as string] = value;
}

async function corrupt(redis: Redis, prefix: string, sagaId: string, c: Corruption): Promise<void> {
  const sagaKey = `${prefix}:saga:{${sagaId}}`;
  const snapshotKey = `${prefix}:snap:{${sagaId}}`;
  const logKey = `${prefix}:log:{${sagaId}}`;
  switch (c.kind) {
    case 'field':
      await redis.hset(sagaKey, c.field, c.value);
      return;
    case 'drop-field':
      await redis.hdel(sagaKey, c.field);
      return;
    case 'snapshot': {
      let snapshot: Record<string, unknown> = JSON.parse((await redis.get(snapshotKey)) as string);
      if (c.edit.shape === 'persisted') {
        const data = readStoredSnapshot(sagaId, snapshot);
        if (!data) throw new Error(`the stored snapshot of ${sagaId} is unreadable before the edit`);
        snapshot = JSON.parse(JSON.stringify(persistedSnapshotOf(buildSagaMachine(trip), data.value, data.context)));
      }
      setPath(snapshot, c.edit.path, c.edit.value);
      await redis.set(snapshotKey, JSON.stringify(snapshot));
      return;
    }
    case 'key-type': {
      const key = { saga: sagaKey, snapshot: snapshotKey, log: logKey }[c.key];
      await redis.del(key);
      if (c.as === 'string') await redis.set(key, 'oops');
      if (c.as === 'list') await redis.rpush(key, 'oops');
      if (c.as === 'zset') await redis.zadd(key, 1, 'oops');
      if (c.as === 'hash') await redis.hset(key, 'oops', '1');
      return;
    }
    case 'log-line':
      await redis.rpush(logKey, c.line);
      return;
    case 'index':
      await redis.zadd(`${prefix}:${c.index}`, c.score, c.member);
      return;
  }
}

/** Every page of a listing, through its cursors. */
async function listAll(
  engine: ReturnType<typeof createEngine>,
  query: Parameters<ReturnType<typeof createEngine>['list']>[0],
) {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await engine.list({ ...query, limit: 2, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((item) => item.sagaId));
    cursor = page.cursor;
  } while (cursor);
  return ids;
}

describe('stored data fuzzing (Redis)', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('keeps every invariant whatever field of a saga, its log or an index is corrupted', async () => {
    await fc.assert(
      fc.asyncProperty(corruption, fc.constantFrom('parked' as const, 'completed' as const), async (c, which) => {
        const prefix = `xsaga-fuzz-${randomUUID()}`;
        const connection = { connection: REDIS_URL, prefix };
        try {
          // One saga completed, then two left parked in Pending by an engine with no worker.
          const runner = createEngine({
            redis: connection,
            handlers: { [trip.name]: tripHandlers(new Participants()) },
          });
          const done = (await runner.start(trip, { tripId: 'done', cardDeclined: false }, { idempotencyKey: 'k-done' }))
            .sagaId;
          await runner.waitFor(done, { timeoutMs: 10_000 });
          await runner.close();
          const starter = createEngine({ redis: connection, sagas: [trip] });
          const parked = (await starter.start(trip, { tripId: 'p', cardDeclined: false }, { idempotencyKey: 'k-p' }))
            .sagaId;
          const healthy = (await starter.start(trip, { tripId: 'h', cardDeclined: false })).sagaId;
          await starter.close();
          const target = which === 'parked' ? parked : done;
          await corrupt(redis, prefix, target, c);

          const engine = createEngine({
            redis: connection,
            sagas: [trip],
            handlers: { [trip.name]: tripHandlers(new Participants()) },
          });
          const quarantinedEvents: string[] = [];
          engine.on('quarantined', ({ sagaId }) => quarantinedEvents.push(sagaId));
          const background: unknown[] = [];
          engine.on('error', (error) => background.push(error));
          try {
            // The healthy saga settles, as if nothing happened beside it.
            expect((await engine.waitFor(healthy, { timeoutMs: 15_000 })).state).toBe('Completed');
            // Listing never fails, and never loses the healthy saga.
            for (const query of [
              {},
              { state: 'Completed' as const },
              { state: 'Pending' as const },
              { name: trip.name },
            ]) {
              const ids = await listAll(engine, query);
              if (!('state' in query) || query.state === 'Completed') expect(ids).toContain(healthy);
            }
            // Reading the corrupted saga: a view, or a typed error; never a raw TypeError.
            const read = await engine.get(target).then(
              (view) => ({ view }),
              (error: unknown) => ({ error }),
            );
            if ('error' in read) {
              expect(isSagaError(read.error), String(read.error)).toBe(true);
              expect(['RECORD_CORRUPT', 'SAGA_NOT_FOUND']).toContain((read.error as { code: string }).code);
            }
            // The corrupted saga ends settled or quarantined, never stuck mid-way.
            const store = createRedisStore({ connection: redis, prefix });
            const until = Date.now() + 15_000;
            for (;;) {
              if ((await store.listQuarantined()).includes(target)) break;
              const view = await engine.get(target).catch(() => undefined);
              if (view && ['Completed', 'Failed', 'Escalated'].includes(view.state)) break;
              // A saga of another (valid) name is another engine's to drive: left as it is.
              if (view && view.name !== trip.name) break;
              if (Date.now() > until) {
                throw new Error(
                  `saga ${target} neither settled nor quarantined after ${JSON.stringify(c).slice(0, 200)}`,
                );
              }
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
            // Quarantined at most once, and the errors reported in the background are typed.
            expect(quarantinedEvents.filter((id) => id === target).length).toBeLessThanOrEqual(1);
            for (const error of background) expect(isSagaError(error), String(error)).toBe(true);
            // Bounded work: meeting the bad saga again and again adds no jobs or outcomes.
            const before = await countKeys(redis, prefix);
            for (let i = 0; i < 5; i++) {
              await engine.recover();
              await engine.get(target).catch(() => undefined);
              await engine.cancel(target).catch(() => undefined);
            }
            expect(await countKeys(redis, prefix)).toBeLessThanOrEqual(before + 2);
          } finally {
            await engine.close();
          }
        } finally {
          await dropPrefix(prefix);
        }
      }),
      { numRuns: Number(process.env.XSAGA_FUZZ_RUNS ?? 30) },
    );
  }, 300_000);
});
