import type { Redis } from 'ioredis';
import { LUA_HELPERS } from './redis-lua-helpers.ts';
import type { RecordReply } from './redis-record.ts';

/**
 * The scripts a RedisStore reads sagas with. A saga is two keys (its hash and its snapshot key,
 * see `redis-keys.ts`), and a waiter wants its log too: each read is one script, so that it stays
 * one command (one round trip) and sees the keys at one instant, never a hash from before a save
 * beside a snapshot from after it. They write nothing.
 */

const LOAD_SAGAS = `--[[
  loadSagas: reads sagas whole, each its hash and its snapshot key.

  Input:
    KEYS[2i - 1] saga hash of the i-th saga
    KEYS[2i]     its snapshot key

  Output: one reply per saga, in the order of KEYS (see readRecord):
    {HGETALL of its hash, its snapshot key's value, or nil when it has none}
    0   no such saga
    -3  the saga key is not a hash
    -8  the snapshot key is not a string
]]
${LUA_HELPERS}
local replies = {}
for i = 1, #KEYS, 2 do replies[#replies + 1] = readRecord(KEYS[i], KEYS[i + 1]) end
return replies
`;

const LOAD_SETTLED = `--[[
  loadSettled: reads a saga as loadSagas does and, when its state is settled, its whole log: what a
  waiter needs, in one call.

  Input:
    KEYS[1] saga hash      KEYS[2] saga snapshot key      KEYS[3] saga log list
    ARGV[1] '1' to read the log, '0' when the store keeps none
    ARGV[2..] the settled states

  Output: {record, lines}
    record  as one reply of loadSagas
    lines   the log's lines, oldest first (empty when it has none), when the saga's state is one of
            ARGV[2..] and ARGV[1] is '1'; -4 if then the log key is not a list; nil otherwise
]]
${LUA_HELPERS}
local record = readRecord(KEYS[1], KEYS[2])
if type(record) == 'number' or ARGV[1] ~= '1' then return {record, false} end
local state = redis.call('HGET', KEYS[1], 'state')
for i = 2, #ARGV do
  if state == ARGV[i] then
    local logType = typeOf(KEYS[3])
    if logType ~= 'list' and logType ~= 'none' then return {record, -4} end
    return {record, redis.call('LRANGE', KEYS[3], 0, -1)}
  end
end
return {record, false}
`;

/** Reply of the loadSettled script: the record, and the log's lines (or -4: not a list) when settled. */
export type LoadSettledReply = [record: RecordReply, lines: string[] | -4 | null];

/** The read scripts as typed calls on one connection. */
export interface SagaReadScripts {
  /** One reply per saga, for `[sagaKey, snapshotKey]` pairs. */
  loadSagas(keys: ReadonlyArray<readonly [sagaKey: string, snapshotKey: string]>): Promise<RecordReply[]>;
  loadSettled(
    keys: readonly [sagaKey: string, snapshotKey: string, logKey: string],
    readLog: boolean,
    settledStates: readonly string[],
  ): Promise<LoadSettledReply>;
}

/** Shape ioredis gives a connection after `defineCommand`. */
interface WithReadCommands {
  xsagaLoadSagas(numberOfKeys: number, ...keys: string[]): Promise<RecordReply[]>;
  xsagaLoadSettled(...keysAndArgs: string[]): Promise<LoadSettledReply>;
}

/**
 * Registers the read scripts on a connection (EVALSHA, falling back to EVAL once per connection)
 * and returns typed calls; harmless twice on one connection, as `registerSagaScripts` is.
 */
export function registerReadScripts(redis: Redis): SagaReadScripts {
  // No numberOfKeys: loadSagas takes as many pairs as a page holds, counted at each call.
  redis.defineCommand('xsagaLoadSagas', { lua: LOAD_SAGAS });
  redis.defineCommand('xsagaLoadSettled', { numberOfKeys: 3, lua: LOAD_SETTLED });
  const commands = redis as unknown as WithReadCommands;
  return {
    loadSagas: (keys) => commands.xsagaLoadSagas(keys.length * 2, ...keys.flat()),
    loadSettled: (keys, readLog, settledStates) =>
      commands.xsagaLoadSettled(...keys, readLog ? '1' : '0', ...settledStates),
  };
}
