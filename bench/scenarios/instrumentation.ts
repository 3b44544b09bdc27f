import { createEngine, createTracing, type Instrumentation } from '../../src/index.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import type { BenchContext } from '../lib/context.ts';
import { runPool, withTimeout } from '../lib/pool.ts';
import type { Ratio, Scenario, ScenarioReport } from '../lib/report.ts';
import { benchTrip, noopHandlers } from '../lib/saga.ts';
import { pairedRatios, percentile, ratioOfMedians } from '../lib/stats.ts';

type Variant = 'plain' | 'tracing' | 'metrics';

interface Trial {
  sagasPerSec: number;
  p50Ms: number;
  /** CPU time (user + system) of this process per saga: steadier than wall time on a shared machine. */
  cpuUsPerSaga: number;
}

/**
 * The embedded engine (as in scenario 4) with one kind of instrumentation: none, `createTracing()`
 * with no OpenTelemetry SDK registered in this process (every span a no-op), or `createMetrics()`
 * (prom-client, a fresh registry per trial).
 */
async function trial(variant: Variant, sagas: number, warmup: number, inFlight: number): Promise<Trial> {
  const instrumentation: Instrumentation | undefined =
    variant === 'tracing' ? createTracing() : variant === 'metrics' ? createMetrics() : undefined;
  const engine = createEngine({
    handlers: { [benchTrip.name]: noopHandlers },
    concurrency: inFlight,
    stuck: false,
    ...(instrumentation ? { instrumentation } : {}),
  });
  const saga = async (i: number) => {
    const { sagaId } = await engine.start(benchTrip, { tripId: `t${i}`, cardDeclined: false });
    const view = await engine.waitFor(sagaId);
    if (view.state !== 'Completed') throw new Error(`saga ${sagaId} ended ${view.state}`);
  };
  try {
    await withTimeout(120_000, 'warm-up', runPool(warmup, inFlight, saga));
    const cpu = process.cpuUsage();
    const run = await withTimeout(
      600_000,
      'run',
      runPool(sagas, inFlight, (i) => saga(warmup + i)),
    );
    const used = process.cpuUsage(cpu);
    return {
      sagasPerSec: sagas / (run.elapsedMs / 1000),
      p50Ms: percentile(run.latencies, 50),
      cpuUsPerSaga: (used.user + used.system) / sagas,
    };
  } finally {
    await engine.close();
  }
}

/**
 * Scenario 9: the cost of instrumentation on the embedded engine. Tracing with no SDK must cost
 * nothing measurable (`ratio tracing-no-sdk/plain` close to 1, within the round-to-round noise);
 * metrics show what prom-client's counters and histograms cost per saga. Variants run in a
 * different order each round so none always runs first.
 */
export const instrumentation: Scenario = {
  id: 'instrumentation',
  title: '9. Embedded engine: no instrumentation vs tracing with no OpenTelemetry SDK vs prom-client metrics',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 4000 : 20_000;
    const warmup = ctx.quick ? 1000 : 2000;
    const inFlight = 200;
    const results: Record<Variant, Trial[]> = { plain: [], tracing: [], metrics: [] };
    const orders: Variant[][] = [
      ['plain', 'tracing', 'metrics'],
      ['tracing', 'metrics', 'plain'],
      ['metrics', 'plain', 'tracing'],
    ];
    for (let round = 1; round <= ctx.rounds; round++) {
      const order = orders[(round - 1) % orders.length] as Variant[];
      ctx.log(`round ${round}/${ctx.rounds}: ${order.join(', ')}; ${n} sagas each`);
      for (const variant of order) results[variant].push(await trial(variant, n, warmup, inFlight));
    }
    const rate = (variant: Variant) => results[variant].map((r) => r.sagasPerSec);
    const cpu = (variant: Variant) => results[variant].map((r) => r.cpuUsPerSaga);
    const ratio = (
      name: string,
      of: (variant: Variant) => number[],
      a: Variant,
      b: Variant,
      target?: Ratio['target'],
    ): Ratio => ({
      name,
      value: ratioOfMedians(of(a), of(b)),
      perRound: pairedRatios(of(a), of(b)),
      ...(target ? { target } : {}),
    });
    return {
      id: this.id,
      title: this.title,
      params: { n, warmup, inFlight },
      rows: [
        { metric: 'no instrumentation sagas/s', unit: 'sagas/s', values: rate('plain') },
        { metric: 'tracing, no SDK sagas/s', unit: 'sagas/s', values: rate('tracing') },
        { metric: 'prom-client metrics sagas/s', unit: 'sagas/s', values: rate('metrics') },
        { metric: 'no instrumentation latency p50', unit: 'ms', values: results.plain.map((r) => r.p50Ms) },
        { metric: 'tracing, no SDK latency p50', unit: 'ms', values: results.tracing.map((r) => r.p50Ms) },
        { metric: 'no instrumentation CPU per saga', unit: 'us', values: cpu('plain') },
        { metric: 'tracing, no SDK CPU per saga', unit: 'us', values: cpu('tracing') },
        { metric: 'prom-client metrics CPU per saga', unit: 'us', values: cpu('metrics') },
      ],
      ratios: [
        ratio('tracing-no-sdk/plain', rate, 'tracing', 'plain', { op: '>=', value: 0.95 }),
        ratio('cpu tracing-no-sdk/plain', cpu, 'tracing', 'plain', { op: '<=', value: 1.05 }),
        ratio('metrics/plain', rate, 'metrics', 'plain'),
        ratio('cpu metrics/plain', cpu, 'metrics', 'plain'),
      ],
      notes: ['no OpenTelemetry SDK is registered in the bench process: createTracing() makes no-op spans'],
    };
  },
};
