import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type {
  Instrumentation,
  InstrumentedEngine,
  SagaSettledInfo,
  SagaStartedInfo,
  StepAttemptEnd,
  StepAttemptInfo,
  StepEndedInfo,
  StuckReport,
} from '../observability/instrumentation.ts';

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Where the metrics are registered. Default: a new Registry (read it from `metrics.registry`). */
  registry?: Registry;
  /** Start of every metric name. Default `xsaga_`. */
  prefix?: string;
  /** Buckets (seconds) of the saga duration histogram. */
  sagaDurationBuckets?: number[];
  /** Buckets (seconds) of the step attempt duration histogram. */
  stepDurationBuckets?: number[];
}

/** Prometheus metrics of sagas and steps: an instrumentation for `createEngine` and `createWorker`. */
export interface SagaMetrics extends Instrumentation {
  /** The registry the metrics live in: serve `await registry.metrics()` on `/metrics`. */
  readonly registry: Registry;
}

/** Seconds: from a few milliseconds to a day. */
export const DEFAULT_SAGA_DURATION_BUCKETS = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400,
];
/** Seconds: from a millisecond to a minute. */
export const DEFAULT_STEP_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const STATES = ['Started', 'Pending', 'Compensating', 'Completed', 'Failed', 'Escalated'] as const;

/**
 * Prometheus metrics (prom-client) of the engines and workers it is given to. Labels are the saga
 * name (`saga`), `step`, `direction`, `state` and `outcome`: never a saga id, so the number of series
 * stays bounded by the definitions.
 *
 * | metric (default prefix `xsaga_`)         | type      | labels                           | counted by |
 * |------------------------------------------|-----------|----------------------------------|------------|
 * | `sagas_started_total`                    | counter   | saga                             | engine that created the saga |
 * | `sagas_settled_total`                    | counter   | saga, state (Completed, Failed, Escalated) | engine that applied the settle |
 * | `saga_duration_seconds`                  | histogram | saga, state                      | same, from creation to the settle |
 * | `compensations_total`                    | counter   | saga, step, outcome (done, failed) | engine: a compensation job's final outcome |
 * | `step_attempts_total`                    | counter   | saga, step, direction, outcome (done, failed, timeout) | where the attempt ran (embedded engine or worker) |
 * | `step_attempt_duration_seconds`          | histogram | saga, step, direction            | same |
 * | `sagas`                                  | gauge     | saga, state                      | engine, from the store's indexes at scrape time (`engine.stats()`) |
 * | `sagas_stuck`                            | gauge     | saga, state (Pending, Compensating) | engine, from its last stuck-saga pass |
 * | `stats_errors_total`                     | counter   |                                  | scrapes whose `engine.stats()` failed (the gauge keeps its last values) |
 *
 * `sagas` and `sagas_stuck` count every saga of the store, so each engine process sharing a store
 * reports the same values: aggregate them with `max`, not `sum`. Counters and histograms are per
 * process: `sum` them.
 *
 * @example
 * ```ts
 * import { createMetrics } from 'xsaga/metrics';
 * const metrics = createMetrics({ registry }); // or createMetrics() and read metrics.registry
 * const engine = createEngine({ redis, sagas, instrumentation: metrics });
 * const worker = createWorker({ handlers, instrumentation: metrics }); // a worker-only process
 * http.createServer(async (_, res) => res.end(await metrics.registry.metrics())).listen(9464);
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): SagaMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'xsaga_';
  const name = (metric: string) => {
    const full = `${prefix}${metric}`;
    if (registry.getSingleMetric(full)) {
      throw new TypeError(
        `metric "${full}" is already registered in this registry: create one createMetrics() per registry and pass it to the engine and the worker alike, or give another prefix`,
      );
    }
    return full;
  };
  const registers = [registry];
  /** Engines whose store the `sagas` gauge reads; the latest attached one is used. */
  const engines: InstrumentedEngine[] = [];

  const started = new Counter({
    name: name('sagas_started_total'),
    help: 'Sagas created, by saga name',
    labelNames: ['saga'] as const,
    registers,
  });
  const settled = new Counter({
    name: name('sagas_settled_total'),
    help: 'Sagas that reached Completed, Failed or Escalated (again after a resume), by saga name and state',
    labelNames: ['saga', 'state'] as const,
    registers,
  });
  const sagaDuration = new Histogram({
    name: name('saga_duration_seconds'),
    help: 'Time from a saga’s creation to its settle, by saga name and state',
    labelNames: ['saga', 'state'] as const,
    buckets: options.sagaDurationBuckets ?? DEFAULT_SAGA_DURATION_BUCKETS,
    registers,
  });
  const compensations = new Counter({
    name: name('compensations_total'),
    help: 'Compensation jobs finished after their retries: done (undone) or failed (the saga escalated)',
    labelNames: ['saga', 'step', 'outcome'] as const,
    registers,
  });
  const attempts = new Counter({
    name: name('step_attempts_total'),
    help: 'Step attempts run in this process, by outcome: done, failed, timeout (direction run or compensate)',
    labelNames: ['saga', 'step', 'direction', 'outcome'] as const,
    registers,
  });
  const attemptDuration = new Histogram({
    name: name('step_attempt_duration_seconds'),
    help: 'Duration of step attempts run in this process',
    labelNames: ['saga', 'step', 'direction'] as const,
    buckets: options.stepDurationBuckets ?? DEFAULT_STEP_DURATION_BUCKETS,
    registers,
  });
  const statsErrors = new Counter({
    name: name('stats_errors_total'),
    help: 'Scrapes whose saga counts could not be read from the store (the sagas gauge kept its last values)',
    registers,
  });
  new Gauge({
    name: name('sagas'),
    help: 'Sagas in the store, by saga name and state (from the store indexes, at scrape time)',
    labelNames: ['saga', 'state'] as const,
    registers,
    async collect() {
      const engine = engines.at(-1);
      if (!engine) return;
      let stats: Awaited<ReturnType<InstrumentedEngine['stats']>>;
      try {
        stats = await engine.stats();
      } catch {
        // A scrape during a store outage still serves every other metric.
        statsErrors.inc();
        return;
      }
      this.reset();
      for (const [saga, counts] of Object.entries(stats.byName)) {
        for (const state of STATES) this.set({ saga, state }, counts[state] ?? 0);
      }
    },
  });
  const stuck = new Gauge({
    name: name('sagas_stuck'),
    help: 'Sagas in Pending or Compensating that have not moved for longer than their threshold (last check)',
    labelNames: ['saga', 'state'] as const,
    registers,
  });

  return {
    registry,

    attach(engine: InstrumentedEngine) {
      engines.push(engine);
      return () => {
        const index = engines.indexOf(engine);
        if (index >= 0) engines.splice(index, 1);
      };
    },

    sagaStarted(saga: SagaStartedInfo) {
      started.inc({ saga: saga.name });
    },

    sagaSettled(saga: SagaSettledInfo) {
      settled.inc({ saga: saga.name, state: saga.state });
      sagaDuration.observe({ saga: saga.name, state: saga.state }, Math.max(0, saga.durationMs) / 1000);
    },

    stepEnded(step: StepEndedInfo) {
      if (step.direction !== 'compensate') return;
      compensations.inc({ saga: step.name, step: step.step, outcome: step.outcome });
    },

    stuckChecked(report: StuckReport) {
      stuck.reset();
      for (const [saga, byState] of Object.entries(report.counts)) {
        for (const [state, count] of Object.entries(byState)) stuck.set({ saga, state }, count ?? 0);
      }
    },

    stepAttemptEnded(attempt: StepAttemptInfo, end: StepAttemptEnd) {
      const labels = { saga: attempt.sagaName, step: attempt.step, direction: attempt.direction };
      attempts.inc({ ...labels, outcome: end.outcome });
      attemptDuration.observe(labels, Math.max(0, end.durationMs) / 1000);
    },
  };
}
