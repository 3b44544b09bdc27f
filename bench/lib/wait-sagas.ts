import { z } from 'zod';
import { defineHandlers, defineSaga } from '../../src/index.ts';

/** The deadline of a saga parked for good in the memory scenario: far beyond any run. */
export const WEEK_MS = 7 * 24 * 60 * 60_000;

/** The payload every bench wait takes. */
const approval = z.object({ ok: z.boolean() });

/**
 * Issue 13's parked saga: one step, then a wait for `approval` with a 7-day deadline. Once `hold`
 * is done it holds no job and no actor anywhere, only its record and one member of the timer set.
 */
export const holdSaga = defineSaga({
  name: 'bench-hold',
  version: 1,
  input: z.object({ n: z.number() }),
  steps: [{ name: 'hold' }, { wait: 'approval', signal: approval, timeoutMs: WEEK_MS }],
});

/**
 * A wait whose deadline is a fixed instant given in the input (`until`), then a query step: the
 * timer scenario makes many deadlines fall due at once with it (and, with a far `dueAt`, parks
 * sagas to signal). `continue`: the deadline moves the saga on to `query` like a signal would.
 */
export const dueAtSaga = defineSaga({
  name: 'bench-due-at',
  version: 1,
  input: z.object({ dueAt: z.number() }),
  steps: [
    { name: 'hold' },
    { wait: 'approval', signal: approval, until: (ctx) => ctx.input.dueAt, onTimeout: 'continue' },
    { name: 'query', kind: 'query' },
  ],
});

/** The short deadline of {@link shortWaitSaga}, counted from when the saga reaches the wait. */
export const SHORT_WAIT_MS = 2_000;

/** The same shape with a relative 2 s deadline: how late an everyday deadline fires. */
export const shortWaitSaga = defineSaga({
  name: 'bench-short-wait',
  version: 1,
  input: z.object({ n: z.number() }),
  steps: [
    { name: 'hold' },
    { wait: 'approval', signal: approval, timeoutMs: SHORT_WAIT_MS, onTimeout: 'continue' },
    { name: 'query', kind: 'query' },
  ],
});

const noop = async () => ({});

/** No-op handlers of the three wait sagas: every step returns at once. */
export const waitHandlers = {
  [holdSaga.name]: defineHandlers(holdSaga, { hold: { run: noop, compensate: noop } }),
  [dueAtSaga.name]: defineHandlers(dueAtSaga, { hold: { run: noop, compensate: noop }, query: { run: noop } }),
  [shortWaitSaga.name]: defineHandlers(shortWaitSaga, {
    hold: { run: noop, compensate: noop },
    query: { run: noop },
  }),
};
