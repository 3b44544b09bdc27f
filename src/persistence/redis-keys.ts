import type { SagaState } from '../machines/states.ts';

/** Prefix of every key a RedisStore writes, unless `prefix` says otherwise. */
export const DEFAULT_REDIS_PREFIX = 'xsaga';

/**
 * The key layout of a RedisStore, in one place. With the default prefix:
 *
 * | key                          | type   | holds                                                      |
 * |------------------------------|--------|------------------------------------------------------------|
 * | `xsaga:saga:{<sagaId>}`      | hash   | name, version, state, snapshot (JSON), revision, ...       |
 * | `xsaga:log:{<sagaId>}`       | list   | the saga log: one JSON entry per transition (no sagaId)    |
 * | `xsaga:idem:<name>:<key>`    | string | the sagaId an idempotency key maps to                      |
 * | `xsaga:all`                  | zset   | every sagaId, scored by createdAt                          |
 * | `xsaga:state:<state>`        | zset   | sagaIds in that top-level state, scored by createdAt       |
 * | `xsaga:name:<name>`          | zset   | sagaIds of that saga name, scored by createdAt             |
 * | `xsaga:quarantine:{<id>}`    | hash   | a saga whose stored data was unusable, moved aside         |
 * | `xsaga:quarantined`          | zset   | quarantined sagaIds, scored by when                        |
 *
 * The `{<sagaId>}` hash tag puts a saga's hash and log in one Cluster slot, so a script can update
 * both. The idempotency key and the indexes live in other slots: fine on a standalone Redis (the
 * default), where one script updates them all atomically. In Cluster mode the index and idempotency
 * updates would have to become separate calls (eventually consistent indexes); this store does not
 * do that yet. Saga names cannot contain `:` (see `NAME_PATTERN`), so `<name>:<key>` is unambiguous.
 */
export interface RedisKeys {
  /** The prefix every key starts with. */
  readonly prefix: string;
  /** Hash of one saga. */
  saga(sagaId: string): string;
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
  /** Sorted set of quarantined sagaIds, scored by the time they were quarantined. */
  readonly quarantined: string;
  /**
   * Leading parts that the Lua scripts complete themselves, for keys they only learn while running
   * (the saga an idempotency key points to, the state a saga leaves, the idempotency key of a saga
   * that reaches a final state). Each key above is `part + rest` (plus `}` for the saga hash).
   */
  readonly scriptParts: { readonly saga: string; readonly idempotency: string; readonly state: string };
}

/**
 * Builds the key layout for a prefix. The prefix must not contain `{` or `}`: a brace in it would
 * become the hash tag and split one saga's keys across Cluster slots.
 *
 * @example
 * ```ts
 * const keys = createRedisKeys('shop');
 * keys.saga('s-1'); // 'shop:saga:{s-1}'
 * keys.log('s-1'); // 'shop:log:{s-1}'
 * ```
 */
export function createRedisKeys(prefix: string = DEFAULT_REDIS_PREFIX): RedisKeys {
  if (prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new TypeError(
      `RedisStore prefix "${prefix}" is not usable: it must be non-empty and contain no "{" or "}" (braces are Redis Cluster hash tags)`,
    );
  }
  const parts = {
    saga: `${prefix}:saga:{`,
    idempotency: `${prefix}:idem:`,
    state: `${prefix}:state:`,
  } as const;
  return {
    prefix,
    saga: (sagaId) => `${parts.saga}${sagaId}}`,
    log: (sagaId) => `${prefix}:log:{${sagaId}}`,
    idempotency: (name, idempotencyKey) => `${parts.idempotency}${name}:${idempotencyKey}`,
    all: `${prefix}:all`,
    state: (state) => `${parts.state}${state}`,
    name: (name) => `${prefix}:name:${name}`,
    quarantine: (sagaId) => `${prefix}:quarantine:{${sagaId}}`,
    quarantined: `${prefix}:quarantined`,
    scriptParts: parts,
  };
}
