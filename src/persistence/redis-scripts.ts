import type { Redis } from 'ioredis';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { type FollowedReply, FollowUpScripts, type MainScript } from './redis-follow-up.ts';
import { LUA_HELPERS } from './redis-lua-helpers.ts';
import { CLAIM_TIMERS, PRUNE_INDEX, QUARANTINE_SAGA, SETTLE_TIMER } from './redis-upkeep-lua.ts';

// The RedisStore's write scripts: the create and the compare-and-set save (their Lua here), the
// upkeep scripts (redis-upkeep-lua.ts), and registerSagaScripts, which gives them typed calls. Their
// negative replies are the ScriptCodes of redis-script-codes.ts.

const CREATE_SAGA = `--[[
  createSaga: stores a new saga at revision 1 (its hash and its snapshot key), its first log entry,
  its idempotency key and its index entries, atomically; or, when the sagaId or the
  (name, idempotencyKey) is taken, returns the stored saga and writes nothing.

  Input:
    KEYS[1] saga hash            KEYS[4] index of every saga
    KEYS[2] saga log list         KEYS[5] index of the saga's state
    KEYS[3] idempotency key      KEYS[6] index of the saga's name
            (not read or written     KEYS[7] set of every saga name
             when ARGV[8] is '0')    KEYS[8] saga snapshot key

    ARGV[1] sagaId               ARGV[8]  '1' if the saga has an idempotency key, else '0'
    ARGV[2] name                 ARGV[9]  idempotency key
    ARGV[3] version              ARGV[10] first log entry (JSON)
    ARGV[4] state                ARGV[11] '1' to append to the log list, '0' to keep no log
    ARGV[5] snapshot (JSON)      ARGV[12] TTL in seconds for a saga created in a final state, '0' = none
    ARGV[6] createdAt (ms)       ARGV[13] saga hash key up to its sagaId (the key is part..id..'}')
    ARGV[7] updatedAt (ms)       ARGV[14] saga snapshot key up to its sagaId (part..id..'}')

  Output: {code, fields, id, snapshot}
    {1, {}, sagaId}                                        created, as given: nothing to read back
    {0, HGETALL of the existing saga, its id, snapshot}    the sagaId or the idempotency key was
                                                           taken (snapshot nil: the hash holds it)
    {-3, {}, id}   the id (or the idempotency key's owner) is held by a key that is not a hash
    {-8, {}, id}   the existing saga's snapshot key is not a string
    {-5, {}, key}  an index key is not a sorted set; nothing was written
]]
${LUA_HELPERS}
local function existing(sagaKey, snapshotKey, id)
  local record = readRecord(sagaKey, snapshotKey)
  if type(record) == 'number' then return {record, {}, id} end
  return {0, record[1], id, record[2]}
end
local sagaKey = KEYS[1]
local sagaType = typeOf(sagaKey)
if sagaType == 'hash' then return existing(sagaKey, KEYS[8], ARGV[1]) end
if sagaType ~= 'none' then return {-3, {}, ARGV[1]} end
local hasIdempotencyKey = ARGV[8] == '1'
if hasIdempotencyKey and typeOf(KEYS[3]) == 'string' then
  local ownerId = redis.call('GET', KEYS[3])
  local ownerKey = ARGV[13] .. ownerId .. '}'
  local ownerType = typeOf(ownerKey)
  if ownerType == 'hash' then return existing(ownerKey, ARGV[14] .. ownerId .. '}', ownerId) end
  if ownerType ~= 'none' then return {-3, {}, ownerId} end
end
for i = 4, 6 do
  if not indexable(KEYS[i]) then return {-5, {}, KEYS[i]} end
end
local namesType = typeOf(KEYS[7])
if namesType ~= 'set' and namesType ~= 'none' then return {-5, {}, KEYS[7]} end

local fields = {
  'sagaId', ARGV[1], 'name', ARGV[2], 'version', ARGV[3], 'state', ARGV[4],
  'revision', '1', 'createdAt', ARGV[6], 'updatedAt', ARGV[7]
}
if hasIdempotencyKey then
  fields[#fields + 1] = 'idempotencyKey'
  fields[#fields + 1] = ARGV[9]
  redis.call('SET', KEYS[3], ARGV[1])
end
redis.call('HSET', sagaKey, unpack(fields))
-- SET replaces whatever was there, whatever its type: a key left by an earlier saga with this id
-- (its hash expired or was deleted first) is not this saga's snapshot.
redis.call('SET', KEYS[8], ARGV[5])
-- A log left by an earlier saga with this id (hash expired first) is not this saga's log.
redis.call('DEL', KEYS[2])
if ARGV[11] == '1' then
  redis.call('RPUSH', KEYS[2], ARGV[10])
end
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
redis.call('SADD', KEYS[7], ARGV[2])

local ttl = tonumber(ARGV[12])
if ttl > 0 then
  local keys = {sagaKey, KEYS[8], KEYS[2]}
  if hasIdempotencyKey then keys[#keys + 1] = KEYS[3] end
  expireTogether(ttl, keys)
end
return {1, {}, ARGV[1]}
`;

const SAVE_SAGA = `--[[
  saveSaga: compare-and-set of a saga's snapshot. If the stored revision equals the expected one,
  writes the snapshot key, and state, updatedAt and revision + 1 in the hash, appends the log entry,
  moves the saga between state indexes and, for a final state under retention, sets a TTL on the
  saga, its snapshot, its log and its idempotency key. A hash of the layout before the snapshot key
  (the snapshot in its field 'snapshot') is rewritten without that field, so that Redis encodes it
  as a listpack again: HDEL alone would leave it a hashtable for good. Index members of expired sagas are removed later, lazily, by list. When the new
  state is settled, or the saga parked (the caller passes a channel), publishes the sagaId on that
  channel; a waiter
  reading the saga when the message arrives sees this save, as a script runs whole. Every check
  (the user's permission to publish included) comes before the first write.

  The saga's timer (the deadline of its step job, of the wait it parks at, or of a dynamic saga's
  idle spell) is kept in the timer set, its member named by the
  hash field 'timer' (without its leading sagaId: see timerField): ARGV[12] 'set' replaces it with
  member ARGV[13] due at ARGV[14], 'clear'
  removes it, 'keep' leaves it (a transition that stays in its step keeps that step's deadline).

  The log line is ARGV[15], the entry without 'f' (from), when the log's last line ends where this
  entry starts (ARGV[16]), or the log is empty and ARGV[16] is '': a reader takes 'from' from the
  line before. Otherwise, or when ARGV[15] is '', it is ARGV[6], with 'f'. Where a line ends is its
  'to' if that is a string, else its 't' if 'to' is absent and 't' is a string; a line that is not
  a JSON object says nothing, and the next line keeps 'f' (endOf in record-schema.ts reads it back
  by the same rule).

  Input:
    KEYS[1] saga hash
    KEYS[2] saga log list
    KEYS[3] timer set (sorted set: member = timer id, score = due time in ms)
    KEYS[4] saga snapshot key

    ARGV[1] sagaId               ARGV[6]  log entry (JSON)
    ARGV[2] expected revision    ARGV[7]  '1' to append to the log list, '0' to keep no log
    ARGV[3] state                ARGV[8]  TTL in seconds to set (final state under retention), '0' = none
    ARGV[4] snapshot (JSON)      ARGV[9]  state index key up to the state name
    ARGV[5] updatedAt (ms)       ARGV[10] idempotency key up to '<name>:<key>'
                                 ARGV[11] channel to publish ARGV[1] on (settled, or parked),
                                          '' = publish nothing
    ARGV[12] timer: 'set', 'clear' or 'keep'
    ARGV[13] timer member (with 'set')
    ARGV[14] timer due time in ms (with 'set')
    ARGV[15] log entry (JSON) without 'f', or '' when the entry has no such form
    ARGV[16] the entry's 'from'

  Output:
    n   the new revision (>= 2)
    -1  saga not found
    -2  conflict: the stored revision is not the expected one; nothing was written
    -3  the saga key is not a hash, or its revision, state or createdAt is unreadable
    -4  the log key is not a list
    -5  a state index key is not a sorted set
    -6  the caller's ACL does not allow PUBLISH on ARGV[11]; nothing was written
    -7  the timer set is not a sorted set (and the save sets or clears a timer); nothing was written
    -8  the snapshot key is not a string; nothing was written

  Events:
    PUBLISH ARGV[11] ARGV[1]   after the writes, when ARGV[11] is not ''
]]
${LUA_HELPERS}
local function lastTo(log)
  local last = redis.call('LINDEX', log, -1)
  if not last then return '' end
  local ok, line = pcall(cjson.decode, last)
  if not ok or type(line) ~= 'table' then return nil end
  if type(line.to) == 'string' then return line.to end
  if line.to == nil and type(line.t) == 'string' then return line.t end
  return nil
end
-- Rewrites a hash without its field 'snapshot', keeping its deadline, if it had one, and giving it
-- to the snapshot key as well.
local function dropSnapshotField(sagaKey, snapshotKey)
  local expiresAt = redis.call('PEXPIRETIME', sagaKey)
  local fields = redis.call('HGETALL', sagaKey)
  local kept = {}
  for i = 1, #fields, 2 do
    if fields[i] ~= 'snapshot' then
      kept[#kept + 1] = fields[i]
      kept[#kept + 1] = fields[i + 1]
    end
  end
  redis.call('DEL', sagaKey)
  redis.call('HSET', sagaKey, unpack(kept))
  if expiresAt > 0 then
    redis.call('PEXPIREAT', sagaKey, expiresAt)
    redis.call('PEXPIREAT', snapshotKey, expiresAt)
  end
end

local sagaType = typeOf(KEYS[1])
if sagaType == 'none' then return -1 end
if sagaType ~= 'hash' then return -3 end
local current = redis.call('HMGET', KEYS[1], 'revision', 'state', 'createdAt', 'name', 'idempotencyKey', 'timer')
local stored = tonumber(current[1])
if not stored or not current[2] or not tonumber(current[3]) then return -3 end
local snapshotType = typeOf(KEYS[4])
if snapshotType ~= 'string' and snapshotType ~= 'none' then return -8 end
if stored ~= tonumber(ARGV[2]) then return -2 end
if ARGV[7] == '1' then
  local logType = typeOf(KEYS[2])
  if logType ~= 'list' and logType ~= 'none' then return -4 end
end
local moves = current[2] ~= ARGV[3]
if moves and not (indexable(ARGV[9] .. current[2]) and indexable(ARGV[9] .. ARGV[3])) then return -5 end
local timer = ARGV[12]
if timer ~= 'keep' and not indexable(KEYS[3]) then return -7 end
-- A denied PUBLISH would raise an error after the writes, leaving them done but reported as failed.
local publishes = ARGV[11] ~= ''
if publishes and not redis.acl_check_cmd('PUBLISH', ARGV[11], ARGV[1]) then return -6 end

local revision = stored + 1
-- KEEPTTL: the snapshot keeps the deadline its hash keeps through HSET.
redis.call('SET', KEYS[4], ARGV[4], 'KEEPTTL')
if redis.call('HEXISTS', KEYS[1], 'snapshot') == 1 then dropSnapshotField(KEYS[1], KEYS[4]) end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'revision', tostring(revision), 'updatedAt', ARGV[5])
if ARGV[7] == '1' then
  local line = ARGV[6]
  if ARGV[15] ~= '' and lastTo(KEYS[2]) == ARGV[16] then line = ARGV[15] end
  redis.call('RPUSH', KEYS[2], line)
end
if moves then
  redis.call('ZREM', ARGV[9] .. current[2], ARGV[1])
  redis.call('ZADD', ARGV[9] .. ARGV[3], current[3], ARGV[1])
end
if timer ~= 'keep' then
  local held = timerMember(ARGV[1], current[6])
  if held and held ~= ARGV[13] then redis.call('ZREM', KEYS[3], held) end
  if timer == 'set' then
    redis.call('ZADD', KEYS[3], ARGV[14], ARGV[13])
    redis.call('HSET', KEYS[1], 'timer', timerField(ARGV[1], ARGV[13]))
  elseif current[6] then
    redis.call('HDEL', KEYS[1], 'timer')
  end
end

local ttl = tonumber(ARGV[8])
if ttl > 0 then
  local keys = {KEYS[1], KEYS[4], KEYS[2]}
  if current[5] then keys[#keys + 1] = ARGV[10] .. current[4] .. ':' .. current[5] end
  expireTogether(ttl, keys)
end
if publishes then redis.call('PUBLISH', ARGV[11], ARGV[1]) end
return revision
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
  snapshotKeyPart: string,
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
  settledChannel: string,
  timer: 'set' | 'clear' | 'keep',
  timerMember: string,
  timerDueAt: number,
  chainedEntry: string,
  from: string,
];

/** How many arguments the save script takes (the length of {@link SaveSagaArgs}). */
const SAVE_SAGA_ARGS = 16;

/** Arguments of the quarantine script, in ARGV order (see its contract header). */
export type QuarantineSagaArgs = [
  sagaId: string,
  at: number,
  entry: string,
  log: '0' | '1',
  stateKeyPart: string,
  nameKeyPart: string,
  ...states: string[],
];

/** The RedisStore scripts as typed calls on one connection. */
export interface SagaScripts {
  createSaga(
    keys: readonly [string, string, string, string, string, string, string, string],
    args: CreateSagaArgs,
  ): Promise<CreateSagaReply>;
  saveSaga(keys: readonly [string, string, string, string], args: SaveSagaArgs): Promise<number>;
  /**
   * The save script, then `calls` in the same script if it saved (see FollowUpScripts): its reply
   * (the new revision or a negative {@link ScriptCode}), then each call's reply.
   */
  saveSagaThen(
    keys: readonly [string, string, string, string],
    args: SaveSagaArgs,
    calls: readonly ScriptCall[],
  ): Promise<FollowedReply>;
  claimTimers(timers: string, now: number, leaseEnd: number, limit: number): Promise<string[]>;
  settleTimer(timers: string, member: string, leaseEnd: number, dueAt: number | ''): Promise<0 | 1>;
  pruneIndex(
    index: string,
    sagaKey: string,
    sagaId: string,
    field: '' | 'state' | 'name',
    value: string,
  ): Promise<number>;
  quarantineSaga(
    keys: readonly [string, string, string, string, string, string, string, string],
    args: QuarantineSagaArgs,
  ): Promise<0 | 1>;
}

/** Reply of the create script: code, the saga's hash fields, its id, and (code 0) its snapshot key's value. */
export type CreateSagaReply = [code: 1 | 0 | -3 | -5 | -8, fields: string[], id: string, snapshot?: string | null];

/** Shape ioredis gives a connection after `defineCommand` (it adds one method per script). */
interface WithSagaCommands {
  xsagaCreateSaga(...keysAndArgs: (string | number)[]): Promise<CreateSagaReply>;
  xsagaSaveSaga(...keysAndArgs: (string | number)[]): Promise<number>;
  xsagaClaimTimers(...keysAndArgs: (string | number)[]): Promise<string[]>;
  xsagaSettleTimer(...keysAndArgs: (string | number)[]): Promise<0 | 1>;
  xsagaPruneIndex(...keysAndArgs: (string | number)[]): Promise<number>;
  xsagaQuarantineSaga(...keysAndArgs: (string | number)[]): Promise<0 | 1>;
}

/**
 * Registers the scripts on a connection with `redis.defineCommand` (EVALSHA, falling back to EVAL
 * once per connection) and returns typed calls. Registering twice on one connection is harmless:
 * the command names are prefixed `xsaga` and the scripts take every key layout detail as arguments.
 */
export function registerSagaScripts(redis: Redis): SagaScripts {
  redis.defineCommand('xsagaCreateSaga', { numberOfKeys: 8, lua: CREATE_SAGA });
  redis.defineCommand('xsagaSaveSaga', { numberOfKeys: 4, lua: SAVE_SAGA });
  redis.defineCommand('xsagaClaimTimers', { numberOfKeys: 1, lua: CLAIM_TIMERS });
  redis.defineCommand('xsagaSettleTimer', { numberOfKeys: 1, lua: SETTLE_TIMER });
  redis.defineCommand('xsagaPruneIndex', { numberOfKeys: 2, lua: PRUNE_INDEX });
  redis.defineCommand('xsagaQuarantineSaga', { numberOfKeys: 8, lua: QUARANTINE_SAGA });
  const commands = redis as unknown as WithSagaCommands;
  const followUps = new FollowUpScripts(redis);
  const save: MainScript = { name: 'SaveSaga', lua: SAVE_SAGA, keys: 4, args: SAVE_SAGA_ARGS };
  return {
    createSaga: (keys, args) => commands.xsagaCreateSaga(...keys, ...args),
    saveSaga: (keys, args) => commands.xsagaSaveSaga(...keys, ...args),
    saveSagaThen: (keys, args, calls) => followUps.run(save, keys, args, calls),
    claimTimers: (timers, now, leaseEnd, limit) => commands.xsagaClaimTimers(timers, now, leaseEnd, limit),
    settleTimer: (timers, member, leaseEnd, dueAt) => commands.xsagaSettleTimer(timers, member, leaseEnd, dueAt),
    pruneIndex: (index, sagaKey, sagaId, field, value) =>
      commands.xsagaPruneIndex(index, sagaKey, sagaId, field, value),
    quarantineSaga: (keys, args) => commands.xsagaQuarantineSaga(...keys, ...args),
  };
}
