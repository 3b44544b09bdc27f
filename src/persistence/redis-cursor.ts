import { badCursor } from './list-query.ts';

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
 * @throws InputError (`INPUT_INVALID`, path `cursor`) when the cursor was not made by a RedisStore.
 */
export function decodeCursor(cursor: unknown): IndexPosition {
  if (typeof cursor === 'string' && cursor.length > 0 && cursor.length <= 2048) {
    try {
      const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (
        Array.isArray(value) &&
        value.length === 2 &&
        typeof value[0] === 'string' &&
        PRINTED_SCORE.test(value[0]) &&
        typeof value[1] === 'string'
      ) {
        return { score: value[0], member: value[1] };
      }
    } catch {
      // Not base64url JSON: reported below like any other malformed cursor.
    }
  }
  throw badCursor(cursor);
}

/** A sorted-set score as Redis prints it (and takes back as a range bound). */
const PRINTED_SCORE = /^[+-]?(inf|[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?)$/;

/** A score as Redis prints it, as a number: Redis writes infinities as `inf` / `-inf`. */
export function scoreOf(printed: string): number {
  if (printed === 'inf' || printed === '+inf') return Number.POSITIVE_INFINITY;
  if (printed === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(printed);
}

/**
 * True when `entry` sorts after `position` in a sorted set: by score, then by member bytes (the
 * order Redis itself uses for equal scores).
 */
export function isAfter(entry: IndexPosition, position: IndexPosition): boolean {
  const a = scoreOf(entry.score);
  const b = scoreOf(position.score);
  if (a !== b) return a > b;
  return Buffer.compare(Buffer.from(entry.member, 'utf8'), Buffer.from(position.member, 'utf8')) > 0;
}
