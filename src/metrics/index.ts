/**
 * xsaga/metrics: Prometheus metrics of sagas and steps with prom-client (an optional peer
 * dependency: install it to use this entry; the `xsaga` root entry never loads it).
 *
 * @example
 * ```ts
 * import { createMetrics } from 'xsaga/metrics';
 * const metrics = createMetrics();
 * const engine = createEngine({ handlers, instrumentation: metrics });
 * // GET /metrics -> await metrics.registry.metrics()
 * ```
 *
 * @packageDocumentation
 */

export type { MetricsOptions, SagaMetrics } from './create-metrics.ts';
export {
  createMetrics,
  DEFAULT_SAGA_DURATION_BUCKETS,
  DEFAULT_STEP_DURATION_BUCKETS,
} from './create-metrics.ts';
