/**
 * Position in a sorted-set index: the score (createdAt, as Redis printed it) and the member (sagaId)
 * of the last saga a page returned. Pages resume strictly after it, so a saga that leaves the index
 * meanwhile (moves to another state, expires) shifts nothing: no saga is skipped or repeated, which
 * an offset cursor could not promise.
 */
export interface IndexPosition {
  score: string;
  member: string;
}

/** Encodes a position as the opaque `cursor` of a page (base64url of `[score, member]`). */
export function encodeCursor(position: IndexPosition): string {
  return Buffer.from(JSON.stringify([position.score, position.member]), 'utf8').toString('base64url');
}

/**
 * Decodes a `cursor` made by {@link encodeCursor}.
 *
 * @throws TypeError when the cursor was not made by a RedisStore.
 */
export function decodeCursor(cursor: string): IndexPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      Number.isFinite(Number(value[0])) &&
      typeof value[1] === 'string'
    ) {
      return { score: value[0], member: value[1] };
    }
  } catch {
    // Not base64url JSON: reported below like any other malformed cursor.
  }
  throw new TypeError(`list cursor "${cursor}" was not made by a RedisStore; pass page.cursor back unchanged`);
}

/**
 * True when `entry` sorts after `position` in a sorted set: by score, then by member bytes (the
 * order Redis itself uses for equal scores).
 */
export function isAfter(entry: IndexPosition, position: IndexPosition): boolean {
  const a = Number(entry.score);
  const b = Number(position.score);
  if (a !== b) return a > b;
  return Buffer.compare(Buffer.from(entry.member, 'utf8'), Buffer.from(position.member, 'utf8')) > 0;
}
