import type { Direction } from '../vocabulary/events.ts';

/**
 * `~` separates the parts: BullMQ forbids `:` in custom ids, and names cannot contain `~`
 * (see NAME_PATTERN), so the id can always be split back.
 */
const SEPARATOR = '~';

/**
 * The deterministic id of a step job. Never an integer string (BullMQ rejects those), stable across
 * restarts; a compensation retried by `resume` gets a new round suffix so its failed job is kept
 * as a dead letter instead of being deduped into the new attempt.
 */
export function stepJobId(sagaId: string, step: string, direction: Direction, round = 0): string {
  const base = [sagaId, step, direction].join(SEPARATOR);
  return round === 0 ? base : `${base}${SEPARATOR}r${round}`;
}

/** The idempotency key a handler sees: same for every attempt, restart and round of a step direction. */
export function idempotencyKeyOf(sagaId: string, step: string, direction: Direction): string {
  return [sagaId, step, direction].join(SEPARATOR);
}

/** The parts of a step job id made by {@link stepJobId}, or undefined for another string. */
export function parseStepJobId(
  jobId: string,
): { sagaId: string; step: string; direction: Direction; round: number } | undefined {
  const [sagaId, step, direction, round, ...rest] = jobId.split(SEPARATOR);
  if (!sagaId || !step || (direction !== 'run' && direction !== 'compensate') || rest.length > 0) return undefined;
  if (round !== undefined && !/^r[1-9][0-9]*$/.test(round)) return undefined;
  return { sagaId, step, direction, round: round === undefined ? 0 : Number(round.slice(1)) };
}

/**
 * The id of a wait's (or sleep's) deadline in the timer set: `<sagaId>~<wait>~wait`, with the
 * wait's round as a job id has it, so a deadline of an earlier round (before a `resume`) is told
 * apart. Never a step job id: the direction part is `wait`.
 */
export function waitTimerId(sagaId: string, wait: string, round = 0): string {
  const base = [sagaId, wait, 'wait'].join(SEPARATOR);
  return round === 0 ? base : `${base}${SEPARATOR}r${round}`;
}

/** The parts of a timer id made by {@link waitTimerId}, or undefined for another string. */
export function parseWaitTimerId(id: string): { sagaId: string; step: string; round: number } | undefined {
  const job = parseStepJobId(id.replace(/~wait(~r[1-9][0-9]*)?$/, '~run$1'));
  return job && /~wait(~r[1-9][0-9]*)?$/.test(id)
    ? { sagaId: job.sagaId, step: job.step, round: job.round }
    : undefined;
}
