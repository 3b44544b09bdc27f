import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';

/** A Lua script and its SHA1, what EVALSHA names it by. */
export interface EvalScript {
  readonly lua: string;
  readonly sha: string;
}

/** A script ready for {@link evalScript}. */
export function evalScriptOf(lua: string): EvalScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * Runs `script` by EVALSHA, and by EVAL when Redis does not have it (a new server, SCRIPT FLUSH):
 * a NOSCRIPT reply means nothing ran, so sending it again is safe. Used for scripts whose
 * arguments mix strings and Buffers (BullMQ's msgpack-packed options): ioredis encodes such a
 * command in several passes and copies, which cost a worker more per step than the script's whole
 * run in Redis; {@link encodeCommand} writes it into one buffer in two passes.
 */
export function evalScript(
  redis: Redis,
  script: EvalScript,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  const send = (name: 'evalsha' | 'eval') => {
    const command = new Command(name, [name === 'evalsha' ? script.sha : script.lua, keys.length, ...keys, ...args], {
      // As ioredis runs a command made by defineCommand: replies as strings, keys under the
      // connection's keyPrefix, if it has one.
      replyEncoding: 'utf8',
      ...(redis.options.keyPrefix ? { keyPrefix: redis.options.keyPrefix } : {}),
    });
    (command as unknown as { toWritable(): Buffer }).toWritable = () =>
      encodeCommand(command.name, command.args as (string | Buffer)[]);
    return redis.sendCommand(command) as Promise<unknown>;
  };
  return send('evalsha').catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return send('eval');
    throw error;
  });
}

/**
 * A command in RESP (a multi-bulk of bulk strings), in one buffer: the string arguments with their
 * headers are joined into as few strings as the Buffer arguments allow, so the whole command is
 * a handful of writes into one allocation (ioredis's own encoder makes three passes over every
 * argument, with a copy each).
 */
export function encodeCommand(name: string, args: readonly (string | Buffer)[]): Buffer {
  const parts: (string | Buffer)[] = [];
  let text = `*${args.length + 1}\r\n$${name.length}\r\n${name}\r\n`;
  for (const arg of args) {
    if (typeof arg === 'string') {
      text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    } else {
      parts.push(`${text}$${arg.length}\r\n`, arg);
      text = '\r\n';
    }
  }
  parts.push(text);
  let size = 0;
  for (const part of parts) size += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const part of parts) at += typeof part === 'string' ? out.write(part, at) : part.copy(out, at);
  return out;
}
