import { createRequire } from 'node:module';
import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { type BullMqScript, isScriptArg, loadBullMqScript } from './bullmq-script.ts';

/** Where BullMQ 6 keeps the script that `Queue.add` runs for a job with no delay, priority or parent. */
const ADD_STANDARD_JOB = 'bullmq/dist/cjs/scripts/addStandardJob-9.js';

/** What a captured add must look like to be trusted: BullMQ 6's `addStandardJob`, 9 keys and 3 args. */
const ADD_KEYS = 9;
const ADD_ARGS = 3;

/** A capture of BullMQ's add that did not come out as expected: the caller falls back to `Queue.add`. */
class UnexpectedBullMq extends Error {}

/**
 * Describes `queue.add(name, data, opts)` as a {@link ScriptCall}, for a store to run inside its
 * save script, instead of adding the job itself. Returns undefined whenever that cannot be done
 * exactly as `Queue.add` would do it (a BullMQ release laid out otherwise, a job with a delay,
 * priority or parent): the caller then adds the job the usual way.
 *
 * Why not a script of xsaga's own: the job must be exactly the job BullMQ's workers expect, with
 * BullMQ's own encoding of its options and its events. So the Lua is BullMQ's (shipped with its
 * build), and the arguments are made by BullMQ's own code (`Job`, and the backend method that
 * `Queue.add` uses), handed a client that records the call instead of sending it.
 */
export function createAddCall(
  queue: Queue,
): (name: string, data: unknown, opts: JobsOptions) => ScriptCall | undefined {
  const script = loadBullMqScript(createRequire(import.meta.url), ADD_STANDARD_JOB, 'addStandardJob', ADD_KEYS);
  if (!script) return () => undefined;
  let usable = true;
  return (name, data, opts) => {
    if (!usable || opts.delay || opts.priority || opts.parent) return undefined;
    try {
      return captureAdd(queue, script, name, data, opts);
    } catch (error) {
      // A BullMQ whose internals moved: say nothing per job, add every job the usual way from now on.
      if (error instanceof UnexpectedBullMq) {
        usable = false;
        return undefined;
      }
      throw error;
    }
  };
}

/** What BullMQ's backend calls on a client to run a script: `runCommand('<script>:<version>', args)`. */
interface RecordingClient {
  runCommand(command: string, args: unknown[]): Promise<string>;
}

function captureAdd(queue: Queue, script: BullMqScript, name: string, data: unknown, opts: JobsOptions): ScriptCall {
  // As Queue.addJob merges them.
  const merged: JobsOptions = { ...queue.defaultJobOptions, ...opts, jobId: opts.jobId };
  const job = new Job(queue, name, data, merged, merged.jobId);
  const json = job.asJSON();
  (job as unknown as { validateOptions(json: unknown): void }).validateOptions(json);
  const backend = queue.backend as unknown as {
    addJobToTransaction?(client: RecordingClient, job: unknown, jobId: string | undefined): Promise<unknown>;
  };
  if (typeof backend.addJobToTransaction !== 'function') throw new UnexpectedBullMq();
  let captured: { command: string; args: unknown[] } | undefined;
  const recorder: RecordingClient = {
    runCommand(command, args) {
      captured = { command, args };
      return Promise.resolve(String(job.id));
    },
  };
  // Runs synchronously up to the client call; the promise only carries the recorded reply.
  void backend.addJobToTransaction(recorder, json, job.id).catch(() => undefined);
  if (
    !captured?.command.startsWith(`${script.name}:`) ||
    captured.args.length !== ADD_KEYS + ADD_ARGS ||
    !captured.args.every(isScriptArg)
  ) {
    throw new UnexpectedBullMq();
  }
  const args = captured.args as (string | number | Buffer)[];
  return {
    name: script.name,
    lua: script.content,
    keys: args.slice(0, ADD_KEYS) as string[],
    args: args.slice(ADD_KEYS),
  };
}
