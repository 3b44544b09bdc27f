import { decodeLog, unreadableLogEntry } from './record-schema.ts';
import { ScriptCode } from './redis-script-codes.ts';
import type { TransitionEntry } from './saga-store.ts';

// Keys changed outside xsaga to another type than the store keeps there: how a RedisStore's reads
// recognise them (a `WRONGTYPE` reply, or a script's LogCorrupt code) and report them.

/** A Redis `WRONGTYPE` reply: the key holds another type than the command needs. */
export function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/** A saga's log from its lines, or the one entry that says its key is not a list. */
export function logOf(sagaId: string, lines: string[] | typeof ScriptCode.LogCorrupt): TransitionEntry[] {
  if (lines !== ScriptCode.LogCorrupt) return decodeLog(sagaId, lines);
  return [unreadableLogEntry(sagaId, `the log of saga "${sagaId}" is not a Redis list; it was changed outside xsaga`)];
}
