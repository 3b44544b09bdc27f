import type { Redis } from 'ioredis';
import { ConflictError, type SagaError, SagaNotFoundError } from '../errors.ts';

/**
 * Negative return codes of the RedisStore scripts. Each maps to one typed error through
 * {@link scriptError}; a script never signals a decision through an error reply.
 */
export const ScriptCode = {
  /** The saga hash does not exist (never created, or expired after its retention). */
  SagaNotFound: -1,
  /** The stored revision is not the one the writer read. */
  Conflict: -2,
} as const;

/** One of the {@link ScriptCode} values. */
export type ScriptCode = (typeof ScriptCode)[keyof typeof ScriptCode];

/** The typed error for a negative script return code. */
export function scriptError(code: ScriptCode, sagaId: string, expectedRevision: number): SagaError {
  switch (code) {
    case ScriptCode.SagaNotFound:
      return new SagaNotFoundError(sagaId);
    case ScriptCode.Conflict:
      return new ConflictError(sagaId, expectedRevision);
  }
}

/** True when a script's reply is one of the negative {@link ScriptCode}s. */
export function isScriptCode(reply: unknown): reply is ScriptCode {
  return Object.values(ScriptCode).includes(reply as ScriptCode);
}

const CREATE_SAGA = `--[[
  createSaga: stores a new saga at revision 1, its first log entry, its idempotency key and its index
  entries, atomically; or, when the sagaId or the (name, idempotencyKey) is taken, returns the stored
  saga and writes nothing.

  Input:
    KEYS[1] saga hash            KEYS[4] index of every saga
    KEYS[2] saga log list         KEYS[5] index of the saga's state
    KEYS[3] idempotency key      KEYS[6] index of the saga's name
            (not read or written when ARGV[8] is '0')

    ARGV[1] sagaId               ARGV[8]  '1' if the saga has an idempotency key, else '0'
    ARGV[2] name                 ARGV[9]  idempotency key
    ARGV[3] version              ARGV[10] first log entry (JSON)
    ARGV[4] state                ARGV[11] '1' to append to the log list, '0' to keep no log
    ARGV[5] snapshot (JSON)      ARGV[12] TTL in seconds for a saga created in a final state, '0' = none
    ARGV[6] createdAt (ms)       ARGV[13] saga hash key up to its sagaId (the key is part..id..'}')
    ARGV[7] updatedAt (ms)

  Output:
    {1, HGETALL of the new saga}       created
    {0, HGETALL of the existing saga}  the sagaId or the idempotency key was taken
]]
local sagaKey = KEYS[1]
if redis.call('EXISTS', sagaKey) == 1 then
  return {0, redis.call('HGETALL', sagaKey)}
end
local hasIdempotencyKey = ARGV[8] == '1'
if hasIdempotencyKey then
  local ownerId = redis.call('GET', KEYS[3])
  if ownerId then
    local owner = redis.call('HGETALL', ARGV[13] .. ownerId .. '}')
    if #owner > 0 then return {0, owner} end
  end
end

local fields = {
  'sagaId', ARGV[1], 'name', ARGV[2], 'version', ARGV[3], 'state', ARGV[4], 'snapshot', ARGV[5],
  'revision', '1', 'createdAt', ARGV[6], 'updatedAt', ARGV[7]
}
if hasIdempotencyKey then
  fields[#fields + 1] = 'idempotencyKey'
  fields[#fields + 1] = ARGV[9]
  redis.call('SET', KEYS[3], ARGV[1])
end
redis.call('HSET', sagaKey, unpack(fields))
-- A log left by an earlier saga with this id (hash expired first) is not this saga's log.
redis.call('DEL', KEYS[2])
if ARGV[11] == '1' then
  redis.call('RPUSH', KEYS[2], ARGV[10])
end
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])

local ttl = tonumber(ARGV[12])
if ttl > 0 then
  redis.call('EXPIRE', sagaKey, ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  if hasIdempotencyKey then redis.call('EXPIRE', KEYS[3], ttl) end
end
return {1, redis.call('HGETALL', sagaKey)}
`;

const SAVE_SAGA = `--[[
  saveSaga: compare-and-set of a saga's snapshot. If the stored revision equals the expected one,
  writes state, snapshot, updatedAt and revision + 1, appends the log entry, moves the saga between
  state indexes and, for a final state under retention, sets a TTL on the saga, its log and its
  idempotency key. Index members of expired sagas are removed later, lazily, by list.

  Input:
    KEYS[1] saga hash
    KEYS[2] saga log list   

    ARGV[1] sagaId               ARGV[6]  log entry (JSON)
    ARGV[2] expected revision    ARGV[7]  '1' to append to the log list, '0' to keep no log
    ARGV[3] state                ARGV[8]  TTL in seconds to set (final state under retention), '0' = none
    ARGV[4] snapshot (JSON)      ARGV[9]  state index key up to the state name
    ARGV[5] updatedAt (ms)       ARGV[10] idempotency key up to '<name>:<key>'

  Output:
    n   the new revision (>= 2)
    -1  saga not found
    -2  conflict: the stored revision is not the expected one; nothing was written
]]
local current = redis.call('HMGET', KEYS[1], 'revision', 'state', 'createdAt', 'name', 'idempotencyKey')
if not current[1] then return -1 end
if tonumber(current[1]) ~= tonumber(ARGV[2]) then return -2 end

local revision = tonumber(current[1]) + 1
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'snapshot', ARGV[4], 'revision', tostring(revision),
  'updatedAt', ARGV[5])
if ARGV[7] == '1' then
  redis.call('RPUSH', KEYS[2], ARGV[6])
end
if current[2] ~= ARGV[3] then
  redis.call('ZREM', ARGV[9] .. current[2], ARGV[1])
  redis.call('ZADD', ARGV[9] .. ARGV[3], current[3], ARGV[1])
end

local ttl = tonumber(ARGV[8])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  if current[5] then redis.call('EXPIRE', ARGV[10] .. current[4] .. ':' .. current[5], ttl) end
end
return revision
`;

const PRUNE_INDEX = `--[[
  pruneIndex: removes a sagaId from an index if its saga hash no longer exists (expired after its
  retention). Checking and removing in one script keeps a saga re-created meanwhile in the index.

  Input:
    KEYS[1] index (sorted set)
    KEYS[2] saga hash
    ARGV[1] sagaId

  Output:
    1  removed
    0  the saga exists (or the member was already gone); nothing changed
]]
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[1])
`;

/** Arguments of the create script, in ARGV order (see its contract header). */
export type CreateSagaArgs = [
  sagaId: string,
  name: string,
  version: number,
  state: string,
  snapshot: string,
  createdAt: number,
  updatedAt: number,
  hasIdempotencyKey: '0' | '1',
  idempotencyKey: string,
  entry: string,
  log: '0' | '1',
  ttlSeconds: number,
  sagaKeyPart: string,
];

/** Arguments of the save script, in ARGV order (see its contract header). */
export type SaveSagaArgs = [
  sagaId: string,
  expectedRevision: number,
  state: string,
  snapshot: string,
  updatedAt: number,
  entry: string,
  log: '0' | '1',
  ttlSeconds: number,
  stateKeyPart: string,
  idempotencyKeyPart: string,
];

/** The RedisStore scripts as typed calls on one connection. */
export interface SagaScripts {
  createSaga(
    keys: readonly [string, string, string, string, string, string],
    args: CreateSagaArgs,
  ): Promise<[0 | 1, string[]]>;
  saveSaga(keys: readonly [string, string], args: SaveSagaArgs): Promise<number>;
  pruneIndex(index: string, sagaKey: string, sagaId: string): Promise<number>;
}

/** Shape ioredis gives a connection after `defineCommand` (it adds one method per script). */
interface WithSagaCommands {
  xsagaCreateSaga(...keysAndArgs: (string | number)[]): Promise<[0 | 1, string[]]>;
  xsagaSaveSaga(...keysAndArgs: (string | number)[]): Promise<number>;
  xsagaPruneIndex(...keysAndArgs: (string | number)[]): Promise<number>;
}

/**
 * Registers the scripts on a connection with `redis.defineCommand` (EVALSHA, falling back to EVAL
 * once per connection) and returns typed calls. Registering twice on one connection is harmless:
 * the command names are prefixed `xsaga` and the scripts take every key layout detail as arguments.
 */
export function registerSagaScripts(redis: Redis): SagaScripts {
  redis.defineCommand('xsagaCreateSaga', { numberOfKeys: 6, lua: CREATE_SAGA });
  redis.defineCommand('xsagaSaveSaga', { numberOfKeys: 2, lua: SAVE_SAGA });
  redis.defineCommand('xsagaPruneIndex', { numberOfKeys: 2, lua: PRUNE_INDEX });
  const commands = redis as unknown as WithSagaCommands;
  return {
    createSaga: (keys, args) => commands.xsagaCreateSaga(...keys, ...args),
    saveSaga: (keys, args) => commands.xsagaSaveSaga(...keys, ...args),
    pruneIndex: (index, sagaKey, sagaId) => commands.xsagaPruneIndex(index, sagaKey, sagaId),
  };
}
