import type { Redis } from 'ioredis';
import { RecordCorruptError } from '../errors.ts';
import { pageSizeOf } from './list-query.ts';
import { decodeCursor, encodeCursor, type IndexPosition, isAfter } from './redis-cursor.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { SagaReadScripts } from './redis-read-scripts.ts';
import { decodeRecordReply } from './redis-record.ts';
import type { SagaScripts } from './redis-scripts.ts';
import type { SagaPage, SagaQuery, SagaRecord } from './saga-store.ts';

/** What a walk reads with and prunes with: a RedisStore's connection, key layout and scripts. */
export interface IndexWalkDeps {
  readonly redis: Redis;
  readonly keys: RedisKeys;
  readonly reads: SagaReadScripts;
  readonly scripts: SagaScripts;
}

/**
 * `RedisStore.list`. Walks one index (state, else name, else all) from the cursor's position, oldest
 * createdAt first (equal createdAt: by sagaId bytes). Sagas whose hash expired, or that the index no
 * longer describes, are skipped and pruned from that index; unusable records are skipped and
 * reported in `unusable`. A full page always carries a cursor, so the page after it may be empty.
 */
export async function walkIndex(deps: IndexWalkDeps, query: SagaQuery = {}): Promise<SagaPage> {
  const { redis, keys, reads, scripts } = deps;
  const limit = pageSizeOf(query);
  const { key: index, field, value } = indexFor(keys, query);
  let after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  /** Entries at `after.score` already passed, when more of them tie than one batch holds. */
  let skip = 0;
  const items: SagaRecord[] = [];
  const unusable: RecordCorruptError[] = [];
  const page = (): SagaPage => ({
    items,
    ...(after === undefined || items.length < limit ? {} : { cursor: encodeCursor(after) }),
    ...(unusable.length > 0 ? { unusable } : {}),
  });
  while (items.length < limit) {
    const batch = limit - items.length;
    const reply = await redis.zrange(
      index,
      after?.score ?? '-inf',
      '+inf',
      'BYSCORE',
      'LIMIT',
      skip,
      batch,
      'WITHSCORES',
    );
    if (reply.length === 0) return page();
    const fresh = positions(reply).filter((position) => after === undefined || isAfter(position, after));
    if (fresh.length === 0) {
      skip += reply.length / 2;
      continue;
    }
    skip = 0;
    // One script reads the whole batch. A saga whose data is corrupt is left out here (it cannot
    // be shown) rather than failing the whole page, and reported so that the engine quarantines it.
    const replies = await reads.loadSagas(
      fresh.map(({ member }) => [keys.saga(member), keys.snapshot(member)] as const),
    );
    const records = fresh.map((position, i) => {
      try {
        return decodeRecordReply(position.member, replies[i] ?? 0);
      } catch (error) {
        return corruptOnly(error);
      }
    });
    for (const [i, position] of fresh.entries()) {
      after = position;
      const record = records[i];
      if (record instanceof RecordCorruptError) {
        unusable.push(record);
      } else if (record === undefined || (field !== '' && record[field] !== value)) {
        await scripts.pruneIndex(index, keys.saga(position.member), position.member, field, value);
      } else if (matches(record, query)) {
        items.push(record);
        if (items.length === limit) break;
      }
    }
  }
  return page();
}

/** The index a query walks, and the record field (with its value) that index is by. */
function indexFor(keys: RedisKeys, query: SagaQuery): { key: string; field: '' | 'state' | 'name'; value: string } {
  if (query.state !== undefined) return { key: keys.state(query.state), field: 'state', value: query.state };
  if (query.name !== undefined) return { key: keys.name(query.name), field: 'name', value: query.name };
  return { key: keys.all, field: '', value: '' };
}

function corruptOnly(error: unknown): RecordCorruptError {
  if (error instanceof RecordCorruptError) return error;
  throw error;
}

function positions(withScores: string[]): IndexPosition[] {
  const result: IndexPosition[] = [];
  for (let i = 0; i + 1 < withScores.length; i += 2) {
    result.push({ member: withScores[i] as string, score: withScores[i + 1] as string });
  }
  return result;
}

/** The index walked covers one filter; the record must also meet the other (and still be there). */
function matches(record: SagaRecord, query: SagaQuery): boolean {
  return (
    (query.state === undefined || record.state === query.state) &&
    (query.name === undefined || record.name === query.name)
  );
}
