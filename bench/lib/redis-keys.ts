import type { Redis } from 'ioredis';

/** Every key matching `pattern`, by SCAN (fine in a benchmark, never in the store itself). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key that starts with `prefix`; returns how many. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<number> {
  const keys = await scanKeys(redis, `${prefix}*`);
  let deleted = 0;
  for (let i = 0; i < keys.length; i += 500) deleted += await redis.unlink(...keys.slice(i, i + 500));
  return deleted;
}

/**
 * Bytes of the keys matching `pattern` (MEMORY USAGE ... SAMPLES 0: every element counted), by group.
 * Keys `groupOf` puts in no group (`undefined`) are not counted.
 */
export async function memoryOfKeys(
  redis: Redis,
  pattern: string,
  groupOf: (key: string) => string | undefined,
): Promise<{ keys: number; bytes: number; groups: Record<string, { keys: number; bytes: number }> }> {
  const keys = (await scanKeys(redis, pattern)).flatMap((key) => {
    const group = groupOf(key);
    return group === undefined ? [] : [{ key, group }];
  });
  const groups: Record<string, { keys: number; bytes: number }> = {};
  let bytes = 0;
  for (let i = 0; i < keys.length; i += 200) {
    const batch = keys.slice(i, i + 200);
    const pipeline = redis.pipeline();
    for (const { key } of batch) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const replies = (await pipeline.exec()) ?? [];
    for (const [j, [, value]] of replies.entries()) {
      const size = Number(value ?? 0);
      const group = batch[j]?.group ?? 'other';
      const entry = groups[group] ?? { keys: 0, bytes: 0 };
      entry.keys += 1;
      entry.bytes += size;
      groups[group] = entry;
      bytes += size;
    }
  }
  return { keys: keys.length, bytes, groups };
}
