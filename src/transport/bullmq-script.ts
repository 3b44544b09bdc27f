/** The Lua source of one of BullMQ's scripts, as BullMQ's own build ships it. */
export interface BullMqScript {
  name: string;
  content: string;
  keys: number;
}

/**
 * BullMQ's script `name` from the module `path` of its build (`bullmq/dist/cjs/scripts/<name>-<keys>.js`
 * in 6.x), or undefined when this BullMQ does not ship it there with that many keys: the caller
 * then leaves the work to BullMQ's own code.
 */
export function loadBullMqScript(
  require: NodeJS.Require,
  path: string,
  name: string,
  keys: number,
): BullMqScript | undefined {
  try {
    const script = (require(path) as Record<string, BullMqScript | undefined>)[name];
    if (script?.name === name && script.keys === keys && typeof script.content === 'string') return script;
  } catch {
    // Not there: another layout of BullMQ's build.
  }
  return undefined;
}

/** A value a script call can take as an argument, as ioredis sends it. */
export function isScriptArg(value: unknown): value is string | number | Buffer {
  return typeof value === 'string' || typeof value === 'number' || Buffer.isBuffer(value);
}
