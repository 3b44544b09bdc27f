// What the engine hands between the queue and the store when both live in one Redis: a write of
// the queue's that the store makes inside its own save script, so the two happen atomically.

/**
 * One call of a Redis Lua script, as data: `lua` run with `keys` as KEYS and `args` as ARGV. A
 * BullMqQueue describes a step job's add this way (`StepQueue.addCall`), and a RedisStore runs it
 * inside the compare-and-set script of the save that dispatches the job (`SagaUpdate.scriptCalls`): one
 * round trip instead of two, and no window in which the saga is saved but its job not yet added.
 */
export interface ScriptCall {
  /**
   * Names `lua` for caching: two calls with the same name carry the same Lua source (a store
   * compiles each sequence of names once).
   */
  readonly name: string;
  /** The script, as a chunk that reads `KEYS` and `ARGV` and may `return` a value. */
  readonly lua: string;
  readonly keys: readonly string[];
  readonly args: readonly (string | number | Buffer)[];
  /**
   * Takes the call's reply, whatever it is (a refusal; an Error when the call raised), once the
   * script has run it; the store then leaves judging it to this callback. Without it, a
   * call that raised or answered a negative number fails the save with `QUEUE_FAILED` (the save
   * stands). A worker completes its own BullMQ job this way and hands BullMQ the reply.
   */
  readonly onReply?: (reply: unknown) => void;
}
