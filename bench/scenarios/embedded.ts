import { createActor, fromCallback } from 'xstate';
import { buildSagaMachine, createEngine } from '../../src/index.ts';
import type { BenchContext } from '../lib/context.ts';
import { runPool, withTimeout } from '../lib/pool.ts';
import type { Ratio, Scenario, ScenarioReport } from '../lib/report.ts';
import { benchTrip, noopHandlers, STEPS } from '../lib/saga.ts';
import { pairedRatios, percentile, ratioOfMedians } from '../lib/stats.ts';

/** Options of one in-process run. */
export interface InProcessOptions {
  sagas: number;
  warmup: number;
  inFlight: number;
  /** Step 4 throws a TerminalError: three compensations. */
  cardDeclined?: boolean;
}

/** What one in-process run measured. */
export interface InProcessResult {
  sagasPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

async function timed(options: InProcessOptions, saga: (index: number) => Promise<void>): Promise<InProcessResult> {
  await withTimeout(
    120_000,
    'warm-up',
    runPool(options.warmup, options.inFlight, saga).then(() => undefined),
  );
  const run = await withTimeout(
    600_000,
    'run',
    runPool(options.sagas, options.inFlight, (i) => saga(options.warmup + i)),
  );
  return {
    sagasPerSec: options.sagas / (run.elapsedMs / 1000),
    p50Ms: percentile(run.latencies, 50),
    p99Ms: percentile(run.latencies, 99),
  };
}

/** xsaga embedded: createEngine({ handlers }) (memory store, in-process queue), start to waitFor. */
export async function embeddedTrial(options: InProcessOptions): Promise<InProcessResult> {
  // The queue runs one job per in-flight saga at most: the same in-flight concurrency as the others.
  const engine = createEngine({ handlers: { [benchTrip.name]: noopHandlers }, concurrency: options.inFlight });
  const expected = options.cardDeclined ? 'Failed' : 'Completed';
  try {
    return await timed(options, async (i) => {
      const { sagaId } = await engine.start(benchTrip, {
        tripId: `t${i}`,
        cardDeclined: options.cardDeclined ?? false,
      });
      const view = await engine.waitFor(sagaId);
      if (view.state !== expected) throw new Error(`saga ${sagaId} ended ${view.state}, expected ${expected}`);
    });
  } finally {
    await engine.close();
  }
}

/**
 * Bare XState: the same machine (buildSagaMachine), its step-job actor replaced by an in-process
 * callback actor that answers at once. No store, no log, no queue.
 */
export async function bareXStateTrial(options: InProcessOptions): Promise<InProcessResult> {
  const machine = buildSagaMachine(benchTrip).provide({
    actors: {
      stepJob: fromCallback(({ input, sendBack }) => {
        queueMicrotask(() =>
          sendBack({
            type: 'step.done',
            step: input.step,
            direction: input.direction,
            attempts: 1,
            round: input.round,
            result: {},
          }),
        );
      }),
    },
  });
  return timed(
    options,
    (i) =>
      new Promise<void>((resolve, reject) => {
        const actor = createActor(machine, {
          input: { sagaId: `bare-${i}`, input: { tripId: `t${i}`, cardDeclined: false } },
        });
        actor.subscribe({
          complete: () => {
            const state = actor.getSnapshot().value;
            if (state === 'Completed') resolve();
            else reject(new Error(`bare saga ${i} ended ${JSON.stringify(state)}`));
          },
          error: reject,
        });
        actor.start();
        actor.send({ type: 'saga.start' });
      }),
  );
}

type Handler = (ctx: never) => Promise<unknown>;

/** A plain async loop: await each step's run; on failure await the compensations in reverse. */
export async function plainLoopTrial(options: InProcessOptions): Promise<InProcessResult> {
  const handlers = noopHandlers as unknown as Record<string, { run: Handler; compensate: Handler }>;
  const expectFailure = options.cardDeclined ?? false;
  return timed(options, async (i) => {
    const sagaId = `loop-${i}`;
    const input = { tripId: `t${i}`, cardDeclined: expectFailure };
    const results: Record<string, unknown> = {};
    const done: string[] = [];
    let failed = false;
    try {
      for (const step of STEPS) {
        const ctx = { sagaId, step, input, results, attempt: 1, idempotencyKey: `${sagaId}~${step}~run` };
        results[step] = await (handlers[step] as { run: Handler }).run(ctx as never);
        done.push(step);
      }
    } catch {
      failed = true;
      for (const step of done.reverse()) {
        const ctx = {
          sagaId,
          step,
          input,
          results,
          result: results[step],
          attempt: 1,
          idempotencyKey: `${sagaId}~${step}~compensate`,
        };
        await (handlers[step] as { compensate: Handler }).compensate(ctx as never);
      }
    }
    if (failed !== expectFailure) throw new Error(`plain saga ${i}: failed=${failed}`);
  });
}

/**
 * Scenario 4: xsaga embedded vs bare XState (same machine) vs a plain async loop, interleaved
 * round by round, same in-flight concurrency.
 */
export const embedded: Scenario = {
  id: 'embedded',
  title: '4. Embedded engine vs bare XState vs plain async loop (4 no-op steps, 200 in flight)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 4000 : 20_000;
    const options: InProcessOptions = { sagas: n, warmup: ctx.quick ? 1000 : 2000, inFlight: 200 };
    const results = {
      embedded: [] as InProcessResult[],
      bare: [] as InProcessResult[],
      plain: [] as InProcessResult[],
    };
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: embedded, bare XState, plain loop; ${n} sagas each`);
      results.embedded.push(await embeddedTrial(options));
      results.bare.push(await bareXStateTrial(options));
      results.plain.push(await plainLoopTrial(options));
    }
    const rate = (list: InProcessResult[]) => list.map((r) => r.sagasPerSec);
    const ratio = (name: string, a: InProcessResult[], b: InProcessResult[], target?: Ratio['target']): Ratio => ({
      name,
      value: ratioOfMedians(rate(a), rate(b)),
      perRound: pairedRatios(rate(a), rate(b)),
      ...(target ? { target } : {}),
    });
    return {
      id: this.id,
      title: this.title,
      params: { n, warmup: options.warmup, inFlight: options.inFlight },
      rows: [
        { metric: 'embedded sagas/s', unit: 'sagas/s', values: rate(results.embedded) },
        { metric: 'bare XState sagas/s', unit: 'sagas/s', values: rate(results.bare) },
        { metric: 'plain loop sagas/s', unit: 'sagas/s', values: rate(results.plain) },
        { metric: 'embedded saga latency p50', unit: 'ms', values: results.embedded.map((r) => r.p50Ms) },
        { metric: 'embedded saga latency p99', unit: 'ms', values: results.embedded.map((r) => r.p99Ms) },
        { metric: 'bare XState saga latency p50', unit: 'ms', values: results.bare.map((r) => r.p50Ms) },
      ],
      ratios: [
        ratio('embedded/bare-xstate', results.embedded, results.bare, { op: '>=', value: 0.5 }),
        ratio('embedded/plain-loop', results.embedded, results.plain),
      ],
      notes: [],
    };
  },
};
