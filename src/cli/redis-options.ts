import { type Command, InvalidArgumentError, Option } from 'commander';
import { checkPrefix, DEFAULT_REDIS_PREFIX } from '../persistence/redis-keys.ts';

/** Where the Redis commands connect when neither `--redis` nor `REDIS_URL` says. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The flags every command that talks to Redis takes, as commander parses them. */
export interface RedisFlags {
  /** `redis://` or `rediss://` URL (`--redis`, else `REDIS_URL`, else {@link DEFAULT_REDIS_URL}). */
  redis: string;
  /** The xsaga key prefix of the engine and workers to inspect (`--prefix`, default `xsaga`). */
  prefix: string;
  /** `--json`: print stable, machine-readable JSON instead of a table. */
  json?: boolean;
}

/**
 * Adds `--redis`, `--prefix` and `--json` to a command. Both values are checked while the command
 * line is parsed, so a malformed one is a usage error (exit 2) before anything is opened.
 *
 * @example
 * ```ts
 * addRedisOptions(new Command('stats')).action(async (flags: RedisFlags) => { ... });
 * ```
 */
export function addRedisOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--redis <url>', 'Redis URL (redis:// or rediss://)')
        .env('REDIS_URL')
        .default(DEFAULT_REDIS_URL)
        .argParser(parseRedisUrl),
    )
    .addOption(
      new Option('--prefix <prefix>', 'key prefix of the engine and its workers')
        .default(DEFAULT_REDIS_PREFIX)
        .argParser(parsePrefix),
    )
    .option('--json', 'print stable JSON instead of a table');
}

/** Accepts what ioredis takes as a URL; anything else would be read as a host name or socket path. */
function parseRedisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL; use redis://host:port (or rediss:// for TLS).`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidArgumentError(`"${redactUrl(value)}" is not a redis:// or rediss:// URL.`);
  }
  return value;
}

function parsePrefix(value: string): string {
  try {
    checkPrefix(value);
  } catch (error) {
    // checkPrefix explains the rule and suggests a prefix that follows it.
    if (error instanceof TypeError) throw new InvalidArgumentError(error.message);
    throw error;
  }
  return value;
}

/** The URL with its password masked, for messages: error output must not leak credentials. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    return value;
  }
}
