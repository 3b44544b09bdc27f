import { Redis, type RedisOptions } from 'ioredis';
import { QueueError, RecordCorruptError, StoreError } from '../errors.ts';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import { OutageReporter, warnOnLogger } from '../observability/outage-reporter.ts';
import { FINAL_STATES, SagaStates, SETTLED_STATES } from '../vocabulary/states.ts';
import { pageSizeOf } from './list-query.ts';
import { decodeLog, encodeLogEntry, unreadableLogEntry } from './record-schema.ts';
import { decodeCursor, encodeCursor, type IndexPosition, isAfter } from './redis-cursor.ts';
import { failedCall } from './redis-follow-up.ts';
import { createRedisKeys, type RedisKeys } from './redis-keys.ts';
import { registerReadScripts, type SagaReadScripts } from './redis-read-scripts.ts';
import { decodeRecordReply, decodeRedisRecord, encodeSnapshot } from './redis-record.ts';
import { isScriptCode, ScriptCode, scriptError } from './redis-script-codes.ts';
import { registerSagaScripts, type SagaScripts, type SaveSagaArgs } from './redis-scripts.ts';
import type {
  CreateResult,
  SagaCounts,
  SagaPage,
  SagaQuery,
  SagaRecord,
  SagaStats,
  SagaStore,
  SagaUpdate,
  SettledRead,
  SettleListener,
  TransitionEntry,
} from './saga-store.ts';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /**
   * Where the errors of the connections this store opened go (its own, and the subscriber of
   * `waitFor`), once per outage (see OutageReporter): the commands that fail meanwhile also fail
   * to their callers. `createEngine({ redis })` reports them on the engine's `error` event.
   * Default: a `warn` line on `logger`.
   */
  onError?: (error: unknown) => void;
  /** Where this store logs (under `child({ component: 'store' })`). Default: warn and error on stderr. */
  logger?: Logger;
  /**
   * Where Redis is. A connected `Redis` instance is shared: the store uses it and `close()` leaves
   * it open. A URL or `RedisOptions` makes a connection the store owns and `close()` quits.
   * Default: `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`. Do not set ioredis'
   * `keyPrefix`: use `prefix`, which the Lua scripts also honour.
   */
  connection?: RedisOptions | string | Redis;
  /** Start of every key (see `redis-keys.ts` for the layout); no braces. Default `xsaga`. */
  prefix?: string;
  /**
   * Keep finished sagas for a while only: on reaching `Completed` or `Failed`, the saga (its hash
   * and its snapshot), its log and its idempotency key expire after `finalTtlSeconds`, all at the
   * same millisecond. Index entries are dropped lazily by `list`. Default: kept forever.
   */
  retention?: { finalTtlSeconds: number };
  /** Keep each saga's log in a Redis list (`history`). Default true; false: `history` is `[]`. */
  log?: boolean;
}

/**
 * Creates a {@link RedisStore}: sagas in Redis hashes with their snapshots in string keys beside
 * them, saga logs in lists, indexes in sorted sets; every write one Lua script (compare-and-set on
 * the revision), and every read of a saga one command.
 *
 * @example
 * ```ts
 * const store = createRedisStore({ connection: process.env.REDIS_URL, prefix: 'shop' });
 * const engine = createEngine({ sagas: [trip], store });
 * // ...
 * await engine.close();
 * await store.close();
 * ```
 */
export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}

/**
 * SagaStore on a standalone Redis (7+), through ioredis. Passes the SagaStore contract suite.
 * Prefer {@link createRedisStore}.
 */
export class RedisStore implements SagaStore {
  readonly #redis: Redis;
  readonly #ownsConnection: boolean;
  readonly #keys: RedisKeys;
  readonly #scripts: SagaScripts;
  readonly #reads: SagaReadScripts;
  readonly #log: boolean;
  readonly #outage: OutageReporter;
  /** TTL for sagas in a final state; 0 keeps them forever. */
  readonly #finalTtlSeconds: number;
  /** Told of settled sagas by the one subscriber connection ({@link RedisStore.onSettled}). */
  readonly #settleListeners = new Set<SettleListener>();
  /** The subscription of the settle channel, made by the first `onSettled`. */
  #settleFeed: Promise<void> | undefined;
  #subscriber: Redis | undefined;
  #closed = false;

  constructor(options: RedisStoreOptions = {}) {
    this.#keys = createRedisKeys(options.prefix);
    this.#finalTtlSeconds = retentionSeconds(options.retention);
    this.#log = options.log ?? true;
    this.#outage = new OutageReporter(
      options.onError ?? warnOnLogger((options.logger ?? defaultLogger()).child({ component: 'store' })),
    );
    const { redis, owned } = openConnection(options.connection, this.#outage);
    this.#redis = redis;
    this.#ownsConnection = owned;
    this.#scripts = registerSagaScripts(redis);
    this.#reads = registerReadScripts(redis);
  }

  async create(record: SagaRecord, entry: TransitionEntry): Promise<CreateResult> {
    const keys = this.#keys;
    const { sagaId, name, idempotencyKey } = record;
    const snapshot = encodeSnapshot(record.snapshot);
    const [code, fields, id, storedSnapshot] = await this.#scripts.createSaga(
      [
        keys.saga(sagaId),
        keys.log(sagaId),
        keys.idempotency(name, idempotencyKey ?? ''),
        keys.all,
        keys.state(record.state),
        keys.name(name),
        keys.names,
        keys.snapshot(sagaId),
      ],
      [
        sagaId,
        name,
        record.version,
        record.state,
        snapshot,
        record.createdAt,
        record.updatedAt,
        idempotencyKey === undefined ? '0' : '1',
        idempotencyKey ?? '',
        // The first line of the log: it starts from '' when the entry does.
        encodeLogEntry(entry, entry.from === ''),
        this.#log ? '1' : '0',
        this.#ttlFor(record.state),
        keys.scriptParts.saga,
        keys.scriptParts.snapshot,
      ],
    );
    if (code === ScriptCode.RecordCorrupt) throw new RecordCorruptError(id, 'key', 'is not a Redis hash');
    if (code === ScriptCode.SnapshotCorrupt) throw scriptError(code, id, 0);
    if (code === ScriptCode.IndexCorrupt) throw scriptError(code, sagaId, 0, id);
    // Created: the record is the one given (the script wrote it, and read nothing back).
    if (code === 1) return { record: { ...record, revision: 1 }, created: true };
    return { record: decodeRedisRecord(id, fields, storedSnapshot), created: false };
  }

  async save(update: SagaUpdate, entry: TransitionEntry): Promise<number> {
    const { sagaId, expectedRevision } = update;
    const line = encodeLogEntry(entry);
    // The script stores this one when the log ends where the entry starts (the engine's entries
    // always do): `from` is then the `to` of the line before, and need not be stored again.
    const chained = encodeLogEntry(entry, true);
    const keys = [
      this.#keys.saga(sagaId),
      this.#keys.log(sagaId),
      this.#keys.timers,
      this.#keys.snapshot(sagaId),
    ] as const;
    const args: SaveSagaArgs = [
      sagaId,
      expectedRevision,
      update.state,
      encodeSnapshot(update.snapshot),
      update.updatedAt,
      line,
      this.#log ? '1' : '0',
      this.#ttlFor(update.state),
      this.#keys.scriptParts.state,
      this.#keys.scriptParts.idempotency,
      SETTLED_STATES.includes(update.state) || update.announce ? this.#keys.settled : '',
      update.timer === undefined ? 'keep' : update.timer === null ? 'clear' : 'set',
      update.timer?.id ?? '',
      update.timer?.dueAt ?? 0,
      chained === line ? '' : chained,
      entry.from,
    ];
    const calls = update.scriptCalls ?? [];
    const [reply, ...followed] =
      calls.length === 0
        ? [await this.#scripts.saveSaga(keys, args)]
        : await this.#scripts.saveSagaThen(keys, args, calls);
    if (isScriptCode(reply)) {
      const detail =
        reply === ScriptCode.PublishDenied
          ? this.#keys.settled
          : reply === ScriptCode.TimersCorrupt
            ? this.#keys.timers
            : `${this.#keys.scriptParts.state}<state>`;
      throw scriptError(reply, sagaId, expectedRevision, detail);
    }
    // The calls add the jobs this save dispatches: one that raised (a command the Redis user may
    // not run, a key of the wrong type; keys it may not touch refuse the whole script first) or
    // refused (BullMQ answers a negative code only for parents and deduplication, which a step job
    // has none of) leaves the saga saved and its job not added, which is a queue failure.
    // A call with onReply judges its own reply, and hears it even when an add before it failed.
    let failure: { name: string; message: string } | undefined;
    for (const [index, answer] of followed.entries()) {
      const call = calls[index];
      const raised = failedCall(answer);
      if (call?.onReply) {
        call.onReply(raised === undefined ? answer : new Error(raised));
        continue;
      }
      const failed = raised ?? (typeof answer === 'number' && answer < 0 ? `code ${answer}` : undefined);
      if (failed !== undefined) failure ??= { name: call?.name ?? 'a call', message: failed };
    }
    if (failure) {
      throw new QueueError(
        `saga "${sagaId}" was saved (revision ${String(reply)}), but ${failure.name} in its save script failed: ${failure.message}. A repeated command on the saga, or engine.recover(), dispatches its job again`,
        { cause: new Error(failure.message) },
      );
    }
    return reply as number;
  }

  async claimDueTimers(now: number, leaseEnd: number, limit: number): Promise<string[]> {
    return this.#scripts.claimTimers(this.#keys.timers, now, leaseEnd, limit);
  }

  async settleTimer(id: string, leaseEnd: number, dueAt?: number): Promise<void> {
    await this.#scripts.settleTimer(this.#keys.timers, id, leaseEnd, dueAt ?? '');
  }

  /** One `ZRANGE 0 0 WITHSCORES` of the timer set: its lowest score. */
  async nextTimerAt(): Promise<number | undefined> {
    const timers = this.#keys.timers;
    const [, score] = await this.#redis.zrange(timers, 0, 0, 'WITHSCORES').catch((error: unknown) => {
      if (!isWrongType(error)) throw error;
      throw new StoreError(
        `Redis key "${timers}" is not a sorted set, so no timer can be read; it was changed outside xsaga: delete or repair it`,
        { cause: error },
      );
    });
    return score === undefined ? undefined : Number(score);
  }

  /** One script (EVALSHA): the saga's hash and its snapshot key, read at one instant. */
  async load(sagaId: string): Promise<SagaRecord | undefined> {
    const [reply] = await this.#reads.loadSagas([[this.#keys.saga(sagaId), this.#keys.snapshot(sagaId)]]);
    return decodeRecordReply(sagaId, reply ?? 0);
  }

  /**
   * One script (EVALSHA): the saga's hash and snapshot key and, when its state is settled, its
   * log; the errors are those of `load` and the history that of `history`.
   */
  async loadSettled(sagaId: string): Promise<SettledRead | undefined> {
    const keys = this.#keys;
    const [reply, lines] = await this.#reads.loadSettled(
      [keys.saga(sagaId), keys.snapshot(sagaId), keys.log(sagaId)],
      this.#log,
      SETTLED_STATES,
    );
    const record = decodeRecordReply(sagaId, reply);
    if (record === undefined) return undefined;
    if (!SETTLED_STATES.includes(record.state)) return { record };
    return { record, history: this.#log ? logOf(sagaId, lines ?? []) : [] };
  }

  /**
   * Walks one index (state, else name, else all) from the cursor's position, oldest createdAt first
   * (equal createdAt: by sagaId bytes). Sagas whose hash expired, or that the index no longer
   * describes, are skipped and pruned from that index; unusable records are skipped and reported in
   * `unusable`. A full page always carries a cursor, so the page after it may be empty.
   */
  async list(query: SagaQuery = {}): Promise<SagaPage> {
    const limit = pageSizeOf(query);
    const { key: index, field, value } = this.#indexFor(query);
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
      const reply = await this.#redis.zrange(
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
      const replies = await this.#reads.loadSagas(
        fresh.map(({ member }) => [this.#keys.saga(member), this.#keys.snapshot(member)] as const),
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
          await this.#scripts.pruneIndex(index, this.#keys.saga(position.member), position.member, field, value);
        } else if (matches(record, query)) {
          items.push(record);
          if (items.length === limit) break;
        }
      }
    }
    return page();
  }

  /**
   * Renames the saga's key to its quarantine key (same slot), whatever its type, copies its
   * snapshot into it (or renames the snapshot key to `quarantineSnapshot` when it cannot be
   * copied), drops it from every index and its timer from the timer set, and appends the entry to
   * its log, in one script. The data stays for a person.
   */
  async quarantine(sagaId: string, entry: TransitionEntry): Promise<boolean> {
    const keys = this.#keys;
    const moved = await this.#scripts.quarantineSaga(
      [
        keys.saga(sagaId),
        keys.quarantine(sagaId),
        keys.log(sagaId),
        keys.all,
        keys.quarantined,
        keys.timers,
        keys.snapshot(sagaId),
        keys.quarantineSnapshot(sagaId),
      ],
      [
        sagaId,
        entry.at,
        encodeLogEntry(entry),
        this.#log ? '1' : '0',
        keys.scriptParts.state,
        keys.name(''),
        ...Object.values(SagaStates),
      ],
    );
    return moved === 1;
  }

  /**
   * Counts from the indexes alone (ZCARD, and ZINTERCARD per name and state): no record is read.
   * Sagas that expired under retention are counted until a `list` prunes them from the index.
   */
  async stats(): Promise<SagaStats> {
    const states = Object.values(SagaStates);
    const names = (await this.#redis.smembers(this.#keys.names)).sort();
    const pipeline = this.#redis.pipeline();
    for (const state of states) pipeline.zcard(this.#keys.state(state));
    for (const name of names) {
      for (const state of states) pipeline.zintercard(2, this.#keys.state(state), this.#keys.name(name));
    }
    const replies = ((await pipeline.exec()) ?? []).map(([error, count]) => {
      if (error) throw error;
      return Number(count);
    });
    const take = () => Object.fromEntries(states.map((state) => [state, replies.shift() ?? 0])) as SagaCounts;
    const byState = take();
    const byName: Record<string, SagaCounts> = {};
    for (const name of names) byName[name] = take();
    return { byState, byName };
  }

  async listQuarantined(): Promise<string[]> {
    return this.#redis.zrange(this.#keys.quarantined, 0, -1);
  }

  async history(sagaId: string): Promise<TransitionEntry[]> {
    if (!this.#log) return [];
    const lines = await this.#redis.lrange(this.#keys.log(sagaId), 0, -1).catch((error: unknown) => {
      if (!isWrongType(error)) throw error;
      return ScriptCode.LogCorrupt;
    });
    return logOf(sagaId, lines);
  }

  /**
   * Tells `listener` of every saga a save settles, by pub/sub on the prefix's settle channel (see
   * `RedisKeys.settled`; the save script publishes). The first call opens the store's one subscriber
   * connection, a `duplicate()` of its connection; every later call shares it, and `close()` ends it.
   * After a reconnect the channel is subscribed again and every listener is told to `resync`, since
   * what was published meanwhile is lost. Rejects (and the next call tries again) if the channel
   * cannot be subscribed: a Redis user needs `&<prefix>:*` and `+subscribe`.
   */
  async onSettled(listener: SettleListener): Promise<() => Promise<void>> {
    if (this.#closed) throw new StoreError('the saga store is closed: it cannot tell of settled sagas any more');
    this.#settleListeners.add(listener);
    try {
      this.#settleFeed ??= this.#subscribe();
      await this.#settleFeed;
    } catch (error) {
      this.#settleListeners.delete(listener);
      throw error;
    }
    return async () => {
      this.#settleListeners.delete(listener);
    };
  }

  /** Quits the connection if the store opened it (a shared connection stays open), and the subscriber. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#settleListeners.clear();
    this.#subscriber?.disconnect();
    if (this.#ownsConnection) await this.#redis.quit();
  }

  /** Opens the subscriber connection and subscribes; on failure, drops it so that the next call retries. */
  async #subscribe(): Promise<void> {
    const channel = this.#keys.settled;
    // Subscribing again after a reconnect is done here, not by ioredis, so that the listeners re-read
    // once the channel is subscribed again, not before (a save in between would be missed).
    const subscriber = this.#redis.duplicate({ autoResubscribe: false });
    this.#subscriber = subscriber;
    // ioredis reconnects by itself; each outage is reported once (an unhandled `error` would print
    // every failed attempt).
    watchConnection(subscriber, this.#outage);
    subscriber.on('message', (from: string, sagaId: string) => {
      if (from !== channel) return;
      for (const listener of [...this.#settleListeners]) listener.settled(sagaId);
    });
    let subscribed = false;
    subscriber.on('ready', () => {
      if (!subscribed) return;
      subscriber.subscribe(channel).then(
        () => {
          for (const listener of [...this.#settleListeners]) listener.resync();
        },
        (error: unknown) => {
          // A connection lost again is followed by another 'ready'; a refusal (NOPERM) is not.
          if (this.#closed || subscriber.status !== 'ready') return;
          for (const listener of [...this.#settleListeners]) listener.resync(error);
        },
      );
    });
    try {
      await subscriber.subscribe(channel);
      subscribed = true;
    } catch (error) {
      this.#settleFeed = undefined;
      this.#subscriber = undefined;
      subscriber.disconnect();
      if (!(error instanceof Error && error.message.startsWith('NOPERM'))) throw error;
      throw new StoreError(
        `the Redis user may not SUBSCRIBE to channel "${channel}", where saves announce settled sagas to engine.waitFor: ACL SETUSER <user> &<prefix>:* +publish +subscribe (see "Tenants and Redis ACLs" in the README)`,
        { cause: error },
      );
    }
  }

  #ttlFor(state: SagaRecord['state']): number {
    return FINAL_STATES.includes(state) ? this.#finalTtlSeconds : 0;
  }

  /** The index a query walks, and the record field (with its value) that index is by. */
  #indexFor(query: SagaQuery): { key: string; field: '' | 'state' | 'name'; value: string } {
    if (query.state !== undefined) return { key: this.#keys.state(query.state), field: 'state', value: query.state };
    if (query.name !== undefined) return { key: this.#keys.name(query.name), field: 'name', value: query.name };
    return { key: this.#keys.all, field: '', value: '' };
  }
}

/** Reports a connection's errors through `outage`: the first of an outage, then nothing until it is ready again. */
function watchConnection(redis: Redis, outage: OutageReporter): void {
  redis.on('error', (error: unknown) => outage.error(error));
  redis.on('ready', () => outage.ready());
}

function openConnection(
  connection: RedisStoreOptions['connection'],
  outage: OutageReporter,
): { redis: Redis; owned: boolean } {
  const shared = isRedis(connection);
  const redis = shared
    ? connection
    : typeof connection === 'string'
      ? new Redis(connection)
      : connection
        ? new Redis(connection)
        : new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (redis.options.keyPrefix) {
    if (!shared) redis.disconnect();
    throw new TypeError(
      `RedisStore does not support ioredis keyPrefix ("${redis.options.keyPrefix}"): its Lua scripts build keys themselves; use the store's prefix option instead`,
    );
  }
  // ioredis reconnects by itself and commands wait for it; a shared connection's errors are its
  // owner's to handle.
  if (!shared) watchConnection(redis, outage);
  return { redis, owned: !shared };
}

/** A Redis instance, also one from another copy of ioredis (where `instanceof` fails). */
function isRedis(connection: RedisStoreOptions['connection']): connection is Redis {
  if (connection instanceof Redis) return true;
  const candidate = connection as { defineCommand?: unknown; quit?: unknown } | undefined;
  return typeof candidate?.defineCommand === 'function' && typeof candidate.quit === 'function';
}

function retentionSeconds(retention: RedisStoreOptions['retention']): number {
  if (retention === undefined) return 0;
  const seconds = retention.finalTtlSeconds;
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new TypeError(`retention.finalTtlSeconds must be a whole number of seconds >= 1, got ${seconds}`);
  }
  return seconds;
}

/** A saga's log from its lines, or the one entry that says its key is not a list. */
function logOf(sagaId: string, lines: string[] | typeof ScriptCode.LogCorrupt): TransitionEntry[] {
  if (lines !== ScriptCode.LogCorrupt) return decodeLog(sagaId, lines);
  return [unreadableLogEntry(sagaId, `the log of saga "${sagaId}" is not a Redis list; it was changed outside xsaga`)];
}

function corruptOnly(error: unknown): RecordCorruptError {
  if (error instanceof RecordCorruptError) return error;
  throw error;
}

/** A Redis `WRONGTYPE` reply: the key holds another type than the command needs. */
function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
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
