import type { SagaState } from '../vocabulary/states.ts';

/** Prefix of every key xsaga writes (store and BullMQ), unless `prefix` says otherwise. */
export const DEFAULT_REDIS_PREFIX = 'xsaga';

/**
 * What a prefix may be made of. No `:`, so `<p1>:` is never the start of `<p2>:` for two different
 * prefixes: each tenant's keys (store and BullMQ alike) are exactly `<prefix>:*`, which one Redis ACL
 * key pattern (`~<prefix>:*`) can grant without granting another tenant's. No glob characters
 * (`*?[]\`), which would turn that pattern into a wider one, and no braces (`{}`), which would become
 * the Cluster hash tag and split one saga's keys across slots.
 */
export const PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Sub-namespace of a prefix that BullMQ's keys live under: `<prefix>:bull:<queue>:...`. */
const BULLMQ_SEGMENT = 'bull';

/**
 * Throws a TypeError unless `prefix` matches {@link PREFIX_PATTERN}; the message suggests one that does.
 *
 * @example
 * ```ts
 * checkPrefix('shop-eu'); // fine
 * checkPrefix('shop:eu'); // TypeError: prefix "shop:eu" is not usable ... (e.g. "shop-eu") ...
 * ```
 */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix === 'string' && PREFIX_PATTERN.test(prefix)) return;
  const hint = typeof prefix === 'string' && prefix.length > 0 ? ` (e.g. "${suggest(prefix)}")` : '';
  throw new TypeError(
    `prefix ${JSON.stringify(prefix)} is not usable: a prefix is 1 to 64 of A-Z a-z 0-9 _ . -${hint}. ` +
      'Every key of a prefix starts with "<prefix>:", so ":", glob characters (* ? [ ] \\) and braces ' +
      "(Redis Cluster hash tags) would let one prefix's keys fall under another's or split a saga's keys",
  );
}

/**
 * The BullMQ `prefix` for an xsaga prefix: `<prefix>:bull`, so BullMQ's keys
 * (`<prefix>:bull:<queue>:<id>`, ...) sit inside the same `<prefix>:` namespace as the store's.
 * The one place this is computed: the engine, its BullMqQueue and every createWorker given the same
 * xsaga prefix meet on the same BullMQ queues.
 *
 * @example
 * ```ts
 * bullMqPrefix('shop'); // 'shop:bull' -> keys 'shop:bull:xsaga-steps:wait', ...
 * bullMqPrefix(); // 'xsaga:bull'
 * ```
 */
export function bullMqPrefix(prefix: string = DEFAULT_REDIS_PREFIX): string {
  checkPrefix(prefix);
  return `${prefix}:${BULLMQ_SEGMENT}`;
}

/** A usable prefix close to a rejected one, for the error message. */
function suggest(prefix: string): string {
  return prefix.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 64) || DEFAULT_REDIS_PREFIX;
}

/**
 * The key layout of a RedisStore, in one place. With the default prefix:
 *
 * | key                             | type   | holds                                                   |
 * |---------------------------------|--------|---------------------------------------------------------|
 * | `xsaga:saga:{<sagaId>}`         | hash   | sagaId, name, version, state, revision, createdAt, updatedAt, idempotencyKey?, timer? |
 * | `xsaga:snap:{<sagaId>}`         | string | the saga's snapshot (JSON)                              |
 * | `xsaga:log:{<sagaId>}`          | list   | the saga log: one JSON entry per transition (no sagaId) |
 * | `xsaga:idem:<name>:<key>`       | string | the sagaId an idempotency key maps to                   |
 * | `xsaga:all`                     | zset   | every sagaId, scored by createdAt                       |
 * | `xsaga:state:<state>`           | zset   | sagaIds in that top-level state, scored by createdAt    |
 * | `xsaga:name:<name>`             | zset   | sagaIds of that saga name, scored by createdAt          |
 * | `xsaga:quarantine:{<id>}`       | hash   | a saga whose stored data was unusable, moved aside, its snapshot copied in as field `snapshot` |
 * | `xsaga:quarantine:snap:{<id>}`  | any    | a quarantined saga's snapshot key, when it could not be copied into that hash |
 * | `xsaga:quarantined`             | zset   | quarantined sagaIds, scored by when                     |
 * | `xsaga:names`                   | set    | every saga name stored (what `stats` counts by)         |
 * | `xsaga:bull:<queue>:...`        | (BullMQ) | the step and outcome queues (see {@link bullMqPrefix}) |
 * | `xsaga:timers`                  | zset   | timers: the step-job deadline of each saga in a step, by due time |
 * | `xsaga:settled`                 | pubsub | a channel, not a key: the sagaId of each saga a save settles |
 *
 * Why the snapshot has a key of its own: Redis keeps a small hash as a listpack (one compact
 * allocation) only while every value is at most `hash-max-listpack-value` bytes (64 by default).
 * A snapshot is hundreds of bytes, so inside the hash it turned the whole record into a hashtable
 * (a dict entry and an allocation per field): about 1,160 bytes for a finished saga's hash, where
 * the listpack hash takes about 260 and the snapshot string about 550. The fields left in the hash
 * are short, so it stays a listpack unless an idempotency key or a timer id is longer than 64 bytes.
 *
 * Records written before the snapshot key (the snapshot as the hash field `snapshot`) are still
 * read: a reader takes the snapshot key when it exists and the field otherwise, and the next save
 * writes the snapshot key and rewrites the hash without the field (HDEL alone would leave the hash a
 * hashtable: Redis never turns one back into a listpack). So an upgrade needs no migration step, and
 * a store's memory shrinks as its sagas move on; sagas that never move again (finished ones) keep
 * the old layout, and its size, until they expire or are deleted.
 *
 * Every key of a prefix, BullMQ's included, starts with `<prefix>:`, and a prefix cannot contain
 * `:` ({@link PREFIX_PATTERN}): so no prefix's keys fall under another's, and a Redis ACL user limited
 * to `~<prefix>:*` is limited to one tenant (the README's "Tenants and Redis ACLs" has the full rule).
 *
 * The `{<sagaId>}` hash tag puts a saga's hash, snapshot and log in one Cluster slot, so a script
 * can update all three. The idempotency key and the indexes live in other slots: fine on a standalone Redis (the
 * default), where one script updates them all atomically. In Cluster mode the index and idempotency
 * updates would have to become separate calls (eventually consistent indexes); this store does not
 * do that yet. Saga names cannot contain `:` (see `NAME_PATTERN`), so `<name>:<key>` is unambiguous.
 */
export interface RedisKeys {
  /** The prefix every key starts with. */
  readonly prefix: string;
  /** Hash of one saga: everything but its snapshot. */
  saga(sagaId: string): string;
  /** String holding one saga's snapshot (JSON), beside its hash (same hash tag: same slot). */
  snapshot(sagaId: string): string;
  /** List holding one saga's log. */
  log(sagaId: string): string;
  /** String mapping (saga name, idempotency key) to a sagaId. */
  idempotency(name: string, idempotencyKey: string): string;
  /** Sorted set of every saga. */
  readonly all: string;
  /** Sorted set of the sagas in one top-level state. */
  state(state: SagaState): string;
  /** Sorted set of the sagas of one saga name. */
  name(name: string): string;
  /** Hash a saga whose stored data could not be used is moved to (same hash tag: same slot). */
  quarantine(sagaId: string): string;
  /**
   * Where a quarantined saga's snapshot key is renamed to when its snapshot cannot be copied into
   * the quarantine hash (the snapshot key, or the saga key, is not of its type); usually absent.
   */
  quarantineSnapshot(sagaId: string): string;
  /** Sorted set of quarantined sagaIds, scored by the time they were quarantined. */
  readonly quarantined: string;
  /** Set of every saga name ever stored under the prefix (what `stats` counts by). */
  readonly names: string;
  /**
   * Pub/sub channel (not a key) on which the save script publishes the sagaId of every saga whose
   * save leaves it settled (`Completed`, `Failed`, `Escalated`): what `engine.waitFor` listens to.
   * One channel per prefix, so one subscription serves every waiter of a process, and it falls under
   * the same `<prefix>:` pattern as the keys (ACL `&<prefix>:*`).
   */
  readonly settled: string;
  /**
   * Sorted set of due timers (member: the step job id whose deadline it is; score: due time in
   * ms), written by the save script (a quarantined saga's timer is dropped) and swept by every
   * engine and worker process.
   */
  readonly timers: string;
  /**
   * Leading parts that the Lua scripts complete themselves, for keys they only learn while running
   * (the saga an idempotency key points to, the state a saga leaves, the idempotency key of a saga
   * that reaches a final state, the snapshot key of the saga an idempotency key points to). Each
   * key above is `part + rest` (plus `}` for the saga hash and snapshot key).
   */
  readonly scriptParts: {
    readonly saga: string;
    readonly snapshot: string;
    readonly idempotency: string;
    readonly state: string;
  };
}

/**
 * Builds the key layout for a prefix, which must match {@link PREFIX_PATTERN} (a TypeError says why
 * not).
 *
 * @example
 * ```ts
 * const keys = createRedisKeys('shop');
 * keys.saga('s-1'); // 'shop:saga:{s-1}'
 * keys.snapshot('s-1'); // 'shop:snap:{s-1}'
 * keys.log('s-1'); // 'shop:log:{s-1}'
 * ```
 */
export function createRedisKeys(prefix: string = DEFAULT_REDIS_PREFIX): RedisKeys {
  checkPrefix(prefix);
  const parts = {
    saga: `${prefix}:saga:{`,
    snapshot: `${prefix}:snap:{`,
    idempotency: `${prefix}:idem:`,
    state: `${prefix}:state:`,
  } as const;
  return {
    prefix,
    saga: (sagaId) => `${parts.saga}${sagaId}}`,
    snapshot: (sagaId) => `${parts.snapshot}${sagaId}}`,
    log: (sagaId) => `${prefix}:log:{${sagaId}}`,
    idempotency: (name, idempotencyKey) => `${parts.idempotency}${name}:${idempotencyKey}`,
    all: `${prefix}:all`,
    state: (state) => `${parts.state}${state}`,
    name: (name) => `${prefix}:name:${name}`,
    quarantine: (sagaId) => `${prefix}:quarantine:{${sagaId}}`,
    quarantineSnapshot: (sagaId) => `${prefix}:quarantine:snap:{${sagaId}}`,
    quarantined: `${prefix}:quarantined`,
    names: `${prefix}:names`,
    settled: `${prefix}:settled`,
    timers: `${prefix}:timers`,
    scriptParts: parts,
  };
}
