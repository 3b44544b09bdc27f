import type { ScriptCall } from '../vocabulary/script-call.ts';
import { failedCall } from './redis-follow-up.ts';

/** A follow-up call that failed: its name (`ScriptCall.name`) and what went wrong. */
export interface FollowUpFailure {
  name: string;
  message: string;
}

/**
 * Judges the replies of the calls a save script ran after it saved (`followed`, in the order of
 * `calls`): hands each call with `onReply` its own reply, and returns the first failure of the
 * others, or undefined when none failed. The caller reports it: the save stands, the call's work
 * does not.
 */
export function followUpFailure(
  calls: readonly ScriptCall[],
  followed: readonly unknown[],
): FollowUpFailure | undefined {
  // The calls add the jobs this save dispatches: one that raised (a command the Redis user may
  // not run, a key of the wrong type; keys it may not touch refuse the whole script first) or
  // refused (BullMQ answers a negative code only for parents and deduplication, which a step job
  // has none of) leaves the saga saved and its job not added, which is a queue failure.
  // A call with onReply judges its own reply, and hears it even when an add before it failed.
  let failure: FollowUpFailure | undefined;
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
  return failure;
}
