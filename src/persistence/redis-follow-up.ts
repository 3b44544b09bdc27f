import type { Redis } from 'ioredis';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { type EvalScript, evalScript, evalScriptOf } from './redis-eval.ts';

/** A script of the store's that others' calls may follow: its Lua and how many keys and args it takes. */
export interface MainScript {
  /** Names the script in the combined scripts (see followedLua) and in errors. */
  readonly name: string;
  readonly lua: string;
  readonly keys: number;
  readonly args: number;
}

/** What a main script with follow-ups replied: its own reply, then each follow-up's (absent when main failed). */
export type FollowedReply = [main: unknown, ...followUps: unknown[]];

/** Marks the reply of a call that raised an error (see {@link failedCall}). */
const FAILED = 'xsaga:call-failed';

/**
 * The error message of a follow-up call that raised one (its reply is then `[FAILED, message]`),
 * or undefined for a call that returned. A call that fails leaves main's writes made: the
 * caller must report that the main script's work stands and the call's does not.
 */
export function failedCall(reply: unknown): string | undefined {
  return Array.isArray(reply) && reply.length === 2 && reply[0] === FAILED ? String(reply[1]) : undefined;
}

/**
 * Runs one of the store's scripts and, in the same script (so atomically, in one round trip),
 * calls handed in by another layer: each only if the main script returned a number >= 0 (for
 * the save script: it saved, and was not refused). A main script that refuses (a negative code)
 * leaves the calls unmade, so a refused save dispatches nothing. A call that raises an error
 * (Redis does not undo what a script wrote) is caught and answered as {@link failedCall} says,
 * so the caller learns that main's writes were made and that call's were not.
 *
 * One Lua script is made per main script and sequence of call names (a step dispatches one job,
 * a parallel group one per member), so a few per process, each run by EVALSHA (see evalScript).
 * The main script and each call's Lua run as functions given their own KEYS and ARGV, so none of
 * them needs to know it is combined:
 *
 *   KEYS = main's keys, then each call's keys, in order
 *   ARGV = [count of keys and of args, per call] (2 per call), main's args, then each call's args
 */
export class FollowUpScripts {
  readonly #redis: Redis;
  /** Combined scripts made so far, by main script and sequence of call names. */
  readonly #scripts = new Map<string, EvalScript>();

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /**
   * Runs `main` with `keys` and `args`, then `calls` if it returned a number >= 0. Resolves with
   * main's reply first, then the calls' replies.
   */
  async run(
    main: MainScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    calls: readonly ScriptCall[],
  ): Promise<FollowedReply> {
    if (keys.length !== main.keys || args.length !== main.args) {
      throw new TypeError(
        `script ${main.name} takes ${main.keys} keys and ${main.args} args, not ${keys.length} and ${args.length}`,
      );
    }
    const header = calls.flatMap((call) => [call.keys.length, call.args.length]);
    const allKeys = [...keys, ...calls.flatMap((call) => call.keys)];
    const allArgs = [...header, ...args, ...calls.flatMap((call) => call.args)];
    return (await evalScript(this.#redis, this.#script(main, calls), allKeys, allArgs)) as FollowedReply;
  }

  /** The combined script for `main` followed by calls of these names (made on first use). */
  #script(main: MainScript, calls: readonly ScriptCall[]): EvalScript {
    const signature = [main.name, ...calls.map((call) => call.name)].join('\n');
    let script = this.#scripts.get(signature);
    if (!script) {
      script = evalScriptOf(followedLua(main, calls));
      this.#scripts.set(signature, script);
    }
    return script;
  }
}

/** The combined Lua: main and each distinct call as functions of (KEYS, ARGV), then the driver. */
export function followedLua(main: MainScript, calls: readonly ScriptCall[]): string {
  const names = [...new Set(calls.map((call) => call.name))];
  const functionOf = (name: string) => `call_${names.indexOf(name) + 1}`;
  const functions = names.map((name) => {
    const lua = calls.find((call) => call.name === name)?.lua ?? '';
    return `local function ${functionOf(name)}(KEYS, ARGV)\n${lua}\nend`;
  });
  return `-- ${main.name}, then ${calls.length === 0 ? 'nothing' : calls.map((call) => call.name).join(', ')}: see FollowUpScripts
local function main(KEYS, ARGV)
${main.lua}
end
${functions.join('\n')}
local calls = { ${calls.map((call) => functionOf(call.name)).join(', ')} }
local header = 2 * #calls
local mainKeys, mainArgs = ${main.keys}, ${main.args}
local reply = main({ unpack(KEYS, 1, mainKeys) }, { unpack(ARGV, header + 1, header + mainArgs) })
if type(reply) ~= 'number' or reply < 0 then return { reply } end
local replies = { reply }
local k, a = mainKeys, header + mainArgs
for i = 1, #calls do
  local nk, na = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  -- Main's writes are made and stay made: a call that raises (a NOPERM, a key of the wrong type)
  -- must not turn the reply into an error that says nothing was saved.
  local ok, answer = pcall(calls[i], { unpack(KEYS, k + 1, k + nk) }, { unpack(ARGV, a + 1, a + na) })
  if ok then
    replies[i + 1] = answer
  else
    replies[i + 1] = { '${FAILED}', type(answer) == 'table' and answer.err or tostring(answer) }
  end
  k, a = k + nk, a + na
end
return replies
`;
}
