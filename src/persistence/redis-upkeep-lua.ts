// The RedisStore's scripts that keep a prefix in order rather than save a saga's transitions:
// pruning index members of expired sagas, claiming and settling due timers, quarantining a saga.
// Registered with the others by registerSagaScripts (redis-scripts.ts).
import { LUA_HELPERS } from './redis-lua-helpers.ts';

/** Lua of the pruneIndex script (see its contract header). */
export const PRUNE_INDEX = `--[[
  pruneIndex: removes a sagaId from an index when the index no longer describes it: its saga key is
  gone (expired after its retention), or the saga's field (its state or name) is not the one the
  index is for. Checking and removing in one script keeps a saga that was re-created, or moved
  into this index, meanwhile.

  Input:
    KEYS[1] index (sorted set)
    KEYS[2] saga hash
    ARGV[1] sagaId
    ARGV[2] field the index is by ('state' or 'name'), or '' for the index of every saga
    ARGV[3] the value of that field the index is for

  Output:
    1  removed
    0  the index is right about the saga (or the member was already gone); nothing changed
]]
${LUA_HELPERS}
local sagaType = typeOf(KEYS[2])
if sagaType == 'hash' and ARGV[2] ~= '' then
  local value = redis.call('HGET', KEYS[2], ARGV[2])
  if value and value ~= ARGV[3] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
end
if sagaType ~= 'none' then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[1])
`;

/** Lua of the claimTimers script (see its contract header). */
export const CLAIM_TIMERS = `--[[
  claimTimers: takes up to ARGV[3] timers due at ARGV[1] or earlier and claims them, atomically, by
  moving their due time to ARGV[2] (the claim's lease): no other process takes them meanwhile, and
  if the claiming process dies they come due again when the lease ends.

  Input:
    KEYS[1] timer set
    ARGV[1] now (ms)    ARGV[2] lease end (ms)    ARGV[3] how many at most

  Output: the claimed timer members (possibly empty)
]]
${LUA_HELPERS}
if typeOf(KEYS[1]) ~= 'zset' then return {} end
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
`;

/** Lua of the settleTimer script (see its contract header). */
export const SETTLE_TIMER = `--[[
  settleTimer: the process that claimed a timer is done with it: removes it, or moves it to a new due
  time, but only if it still holds the claim (its due time is still the lease end it claimed with).
  A save that replaced or removed the timer meanwhile wins.

  Input:
    KEYS[1] timer set
    ARGV[1] timer member    ARGV[2] the lease end it was claimed with (ms)
    ARGV[3] new due time (ms), or '' to remove it

  Output:
    1  removed or moved
    0  the claim was lost (the timer changed meanwhile); nothing changed
]]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
`;

/** Lua of the quarantineSaga script (see its contract header). */
export const QUARANTINE_SAGA = `--[[
  quarantineSaga: moves a saga whose stored data cannot be used aside (its key renamed, whatever its
  type), drops it from every index and its timer (the member its hash field 'timer' names) from the
  timer set, records it in the quarantined index and appends the entry with the reason to its log.
  Keys of the wrong type are left as they are rather than failing the move.

  The snapshot stays readable for a person: copied into the quarantine hash as its field
  'snapshot' (the whole record in one hash, as the layout before the snapshot key kept it) and its
  key deleted; or, when it cannot be copied (the saga key is not a hash, or the snapshot key not a
  string), its key renamed to KEYS[8], whatever its type. A KEYS[8] left by an earlier quarantine of
  the same sagaId is deleted otherwise.

  Input:
    KEYS[1] saga key             KEYS[4] index of every saga       KEYS[7] saga snapshot key
    KEYS[2] quarantine key       KEYS[5] index of quarantined sagas  KEYS[8] quarantine snapshot key
    KEYS[3] saga log list        KEYS[6] timer set

    ARGV[1] sagaId               ARGV[5] state index key up to the state name
    ARGV[2] quarantined at (ms)  ARGV[6] name index key up to the name
    ARGV[3] log entry (JSON)     ARGV[7..] every state name
    ARGV[4] '1' to append to the log list

  Output:
    1  moved
    0  no such saga; nothing changed
]]
${LUA_HELPERS}
local sagaType = typeOf(KEYS[1])
if sagaType == 'none' then return 0 end
local name, timer = false, false
if sagaType == 'hash' then name, timer = unpack(redis.call('HMGET', KEYS[1], 'name', 'timer')) end
timer = timerMember(ARGV[1], timer)
redis.call('RENAME', KEYS[1], KEYS[2])
local snapshotType = typeOf(KEYS[7])
if snapshotType == 'string' and sagaType == 'hash' then
  redis.call('HSET', KEYS[2], 'snapshot', redis.call('GET', KEYS[7]))
  redis.call('DEL', KEYS[7], KEYS[8])
elseif snapshotType ~= 'none' then
  redis.call('RENAME', KEYS[7], KEYS[8])
else
  redis.call('DEL', KEYS[8])
end
if timer and indexable(KEYS[6]) then redis.call('ZREM', KEYS[6], timer) end
if indexable(KEYS[4]) then redis.call('ZREM', KEYS[4], ARGV[1]) end
for i = 7, #ARGV do
  local index = ARGV[5] .. ARGV[i]
  if indexable(index) then redis.call('ZREM', index, ARGV[1]) end
end
if name and indexable(ARGV[6] .. name) then redis.call('ZREM', ARGV[6] .. name, ARGV[1]) end
if indexable(KEYS[5]) then redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1]) end
local logType = typeOf(KEYS[3])
if ARGV[4] == '1' and (logType == 'list' or logType == 'none') then redis.call('RPUSH', KEYS[3], ARGV[3]) end
return 1
`;
