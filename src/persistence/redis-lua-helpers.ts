/**
 * Lua shared by the scripts:
 *
 * - `typeOf(key)` (`TYPE` replies with a status table in Lua, hence `.ok`) and `indexable(key)` (a
 *   sorted set, or nothing yet);
 * - `readRecord(sagaKey, snapshotKey)`: a saga as `{HGETALL of its hash, its snapshot key's value or
 *   false}` (false, a nil in the reply, for a record of the layout before the snapshot key, whose
 *   snapshot is the hash field), or 0 (no saga), -3 (the saga key is not a hash), -8 (the snapshot
 *   key is not a string). See `decodeRecordReply` in `redis-record.ts`;
 * - `expireTogether(ttl, keys)`: one deadline, `ttl` seconds from now, for all of a saga's keys.
 *   Separate EXPIREs could differ by a millisecond; with one deadline every reader (a script sees
 *   the keyspace at one instant) finds all of them or none, never a hash without its snapshot. The
 *   deadline is the first key's after EXPIRE, read back with PEXPIRETIME, not computed from TIME:
 *   TIME is in no ACL category a tenant's user is granted (`@read`, `@write`), and a command
 *   refused half-way through a script would leave its writes half done.
 */
export const LUA_HELPERS = `
local function typeOf(key) return redis.call('TYPE', key).ok end
-- A saga's hash field 'timer' keeps its timer's member without the leading sagaId ('~step~run'): the
-- member can pass Redis's 64-byte listpack limit with a long step name, and one long field turns
-- the whole hash into a hashtable (about 900 bytes more). Fields written before hold the whole member.
local function timerField(sagaId, member)
  local head = sagaId .. '~'
  if string.sub(member, 1, #head) == head then return string.sub(member, #sagaId + 1) end
  return member
end
local function timerMember(sagaId, field)
  if field and string.sub(field, 1, 1) == '~' then return sagaId .. field end
  return field
end
local function indexable(key) local t = typeOf(key) return t == 'zset' or t == 'none' end
local function readRecord(sagaKey, snapshotKey)
  local sagaType = typeOf(sagaKey)
  if sagaType == 'none' then return 0 end
  if sagaType ~= 'hash' then return -3 end
  local snapshotType = typeOf(snapshotKey)
  if snapshotType == 'string' then return {redis.call('HGETALL', sagaKey), redis.call('GET', snapshotKey)} end
  if snapshotType == 'none' then return {redis.call('HGETALL', sagaKey), false} end
  return -8
end
local function expireTogether(ttl, keys)
  redis.call('EXPIRE', keys[1], ttl)
  local at = redis.call('PEXPIRETIME', keys[1])
  for i = 2, #keys do redis.call('PEXPIREAT', keys[i], at) end
end
`;
