import { createRequire } from 'node:module';
import type { Worker } from 'bullmq';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { type BullMqScript, isScriptArg, loadBullMqScript } from './bullmq-script.ts';

/** Where BullMQ 6 keeps the script that completes (or fails) an active job and fetches the next. */
const MOVE_TO_FINISHED = 'bullmq/dist/cjs/scripts/moveToFinished-14.js';
/** BullMQ 6's `moveToFinished`: 14 keys, then the job id, timestamp, field, value, target, ... */
const FINISH_KEYS = 14;
const FINISH_ARGS_MIN = 8;
/** Where the job id and the target ('completed' or 'failed') sit in the arguments. */
const JOB_ID_AT = FINISH_KEYS;
const TARGET_AT = FINISH_KEYS + 4;

/**
 * Decides a completion that BullMQ is about to send: called with the job's id and BullMQ's own
 * `moveToFinished` call as a {@link ScriptCall} (undefined if its arguments are not laid out as
 * BullMQ 6 lays them out: the completion then cannot be run elsewhere). Returns undefined: BullMQ
 * sends it as usual. A promise: BullMQ waits for it; the handler may run the call inside a script
 * of its own (a save), which hands the reply to `call.onReply` (an Error if it raised); if the
 * promise resolves without the call having run, BullMQ sends it then.
 */
export type CompletionHandler = (jobId: string, call: ScriptCall | undefined) => Promise<void> | undefined;

/** The layout of BullMQ's backend that this relies on: `execCommand(client, name, args)`. */
interface Backend {
  execCommand(client: unknown, commandName: string, args: unknown[]): Promise<unknown>;
}

/**
 * Lets `handler` complete the worker's jobs inside its own script: BullMQ builds the completion
 * (its keys, its arguments, the fetch of the next job, its events) exactly as always, and where it
 * would send it, the handler may run it as the last call of a saga's save instead. The save, the
 * add of the saga's next step job and the completion of this one then happen in one script: one
 * round trip less per step, and no window in which a saga has moved on while the job that moved
 * it is still active. BullMQ receives the call's reply as if it had sent the call itself.
 *
 * Returns false (and changes nothing) when this BullMQ is not laid out as 6.x is: the worker then
 * completes its jobs the usual way.
 */
export function interceptCompletions(worker: Worker, handler: CompletionHandler): boolean {
  const script = loadBullMqScript(createRequire(import.meta.url), MOVE_TO_FINISHED, 'moveToFinished', FINISH_KEYS);
  const backend = (worker as unknown as { backend?: Partial<Backend> }).backend;
  if (!script || typeof backend?.execCommand !== 'function') return false;
  const send = backend.execCommand.bind(backend);
  backend.execCommand = (client, commandName, args) => {
    const jobId = args[JOB_ID_AT];
    // execCommand is also how BullMQ fails jobs, fetches them, extends locks...: only completions.
    if (commandName !== script.name || args[TARGET_AT] !== 'completed' || typeof jobId !== 'string') {
      return send(client, commandName, args);
    }
    let ran = false;
    let reply: unknown;
    const call = finishCall(script, args, (answer) => {
      ran = true;
      reply = answer;
    });
    const handled = handler(jobId, call);
    if (!handled) return send(client, commandName, args);
    return handled.then(() => {
      if (!ran) return send(client, commandName, args);
      // Raised inside the script: rejected, as ioredis rejects a script that raises.
      if (reply instanceof Error) throw reply;
      return reply;
    });
  };
  return true;
}

/** BullMQ's completion as a {@link ScriptCall}, or undefined when its arguments are not as 6.x makes them. */
function finishCall(script: BullMqScript, args: unknown[], onReply: (reply: unknown) => void): ScriptCall | undefined {
  if (args.length < FINISH_KEYS + FINISH_ARGS_MIN) return undefined;
  const keys = args.slice(0, FINISH_KEYS);
  // As ioredis sends them: an absent argument (no fields to update) is an empty string.
  const callArgs = args.slice(FINISH_KEYS).map((arg) => (arg === undefined || arg === null ? '' : arg));
  if (!keys.every((key): key is string => typeof key === 'string') || !callArgs.every(isScriptArg)) return undefined;
  return { name: script.name, lua: script.content, keys, args: callArgs, onReply };
}
