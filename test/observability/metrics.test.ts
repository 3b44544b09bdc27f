import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, createWorker, type Engine, type StepWorker } from '../../src/index.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { dropPrefix, eventually, REDIS_URL } from '../durable/redis-helpers.ts';
import { shop, shopHandlers } from './shop-saga.ts';

/** Values of one metric as `label=value,...` -> value (histograms: their `_count` series only). */
async function valuesOf(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const out: Record<string, number> = {};
  for (const value of values) {
    const metricName = (value as { metricName?: string }).metricName;
    if (metricName !== undefined && metricName !== `${name}_count`) continue;
    const labels = Object.entries(value.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[labels] = value.value;
  }
  return out;
}

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of closing.splice(0).reverse()) await item.close();
});

describe('metrics of an embedded engine', () => {
  it('count sagas, settles, attempts, timeouts and compensations exactly, never by saga id', async () => {
    const clock = new TestClock();
    const metrics = createMetrics();
    const engine = createEngine({
      clock,
      random: () => 0,
      handlers: { shop: shopHandlers() },
      instrumentation: metrics,
    });
    closing.push(engine);
    const completes = await engine.start(shop, { slowFirst: true }); // a times out once, then all done
    const compensates = await engine.start(shop, { refuse: true }); // c refuses: undo b, undo a
    const escalates = await engine.start(shop, { refuse: true, undoFails: true }); // undo of b fails twice
    await clock.runAll();
    expect((await engine.waitFor(completes.sagaId)).state).toBe('Completed');
    expect((await engine.waitFor(compensates.sagaId)).state).toBe('Failed');
    expect((await engine.waitFor(escalates.sagaId)).state).toBe('Escalated');

    const { registry } = metrics;
    expect(await valuesOf(registry, 'xsaga_sagas_started_total')).toEqual({ 'saga=shop': 3 });
    expect(await valuesOf(registry, 'xsaga_sagas_settled_total')).toEqual({
      'saga=shop,state=Completed': 1,
      'saga=shop,state=Failed': 1,
      'saga=shop,state=Escalated': 1,
    });
    expect(await valuesOf(registry, 'xsaga_saga_duration_seconds')).toEqual({
      'saga=shop,state=Completed': 1,
      'saga=shop,state=Failed': 1,
      'saga=shop,state=Escalated': 1,
    });
    expect(await valuesOf(registry, 'xsaga_step_attempts_total')).toEqual({
      'saga=shop,step=a,direction=run,outcome=timeout': 1,
      'saga=shop,step=a,direction=run,outcome=done': 3,
      'saga=shop,step=b,direction=run,outcome=done': 3,
      'saga=shop,step=c,direction=run,outcome=done': 1,
      'saga=shop,step=c,direction=run,outcome=failed': 2,
      'saga=shop,step=b,direction=compensate,outcome=done': 1,
      'saga=shop,step=b,direction=compensate,outcome=failed': 2,
      'saga=shop,step=a,direction=compensate,outcome=done': 1,
    });
    expect(await valuesOf(registry, 'xsaga_step_attempt_duration_seconds')).toEqual({
      'saga=shop,step=a,direction=run': 4,
      'saga=shop,step=b,direction=run': 3,
      'saga=shop,step=c,direction=run': 3,
      'saga=shop,step=b,direction=compensate': 3,
      'saga=shop,step=a,direction=compensate': 1,
    });
    expect(await valuesOf(registry, 'xsaga_compensations_total')).toEqual({
      'saga=shop,step=b,outcome=done': 1,
      'saga=shop,step=a,outcome=done': 1,
      'saga=shop,step=b,outcome=failed': 1,
    });
    // Read lazily from the store's indexes at scrape time.
    expect(await valuesOf(registry, 'xsaga_sagas')).toEqual({
      'saga=shop,state=Started': 0,
      'saga=shop,state=Pending': 0,
      'saga=shop,state=Compensating': 0,
      'saga=shop,state=Completed': 1,
      'saga=shop,state=Failed': 1,
      'saga=shop,state=Escalated': 1,
    });

    // The timed-out attempt took its whole timeout (1 s on the test clock): it sits above the 0.5 s bucket.
    const duration = await registry.getSingleMetric('xsaga_step_attempt_duration_seconds')?.get();
    const sumOfA = duration?.values.find(
      (v) =>
        (v as { metricName?: string }).metricName?.endsWith('_sum') &&
        v.labels.step === 'a' &&
        v.labels.direction === 'run',
    );
    expect(sumOfA?.value).toBe(1);

    const text = await registry.metrics();
    expect(text).toContain('xsaga_sagas_settled_total{saga="shop",state="Escalated"} 1');
    for (const { sagaId } of [completes, compensates, escalates]) expect(text).not.toContain(sagaId);
  });

  it('counts a saga settling again after resolve, and serves the gauge from stats() at each scrape', async () => {
    const clock = new TestClock();
    const metrics = createMetrics({ prefix: 'shop_' });
    const engine = createEngine({
      clock,
      random: () => 0,
      handlers: { shop: shopHandlers() },
      instrumentation: metrics,
    });
    closing.push(engine);
    const { sagaId } = await engine.start(shop, { refuse: true, undoFails: true });
    await clock.runAll();
    expect((await engine.waitFor(sagaId)).state).toBe('Escalated');
    expect(await valuesOf(metrics.registry, 'shop_sagas')).toMatchObject({ 'saga=shop,state=Escalated': 1 });
    await engine.resolve(sagaId, 'refunded by hand');
    expect(await valuesOf(metrics.registry, 'shop_sagas_settled_total')).toEqual({
      'saga=shop,state=Escalated': 1,
      'saga=shop,state=Failed': 1,
    });
    expect(await valuesOf(metrics.registry, 'shop_sagas')).toMatchObject({
      'saga=shop,state=Escalated': 0,
      'saga=shop,state=Failed': 1,
    });
  });

  it('refuses to register twice in one registry, saying what to do', () => {
    const metrics = createMetrics();
    expect(() => createMetrics({ registry: metrics.registry })).toThrow(/one createMetrics\(\) per registry/);
  });

  it('keeps a failing hook from failing the saga: it is reported on the error event', async () => {
    const clock = new TestClock();
    const errors: unknown[] = [];
    const engine = createEngine({
      clock,
      handlers: { shop: shopHandlers() },
      instrumentation: [
        {
          sagaSettled: () => {
            throw new Error('exporter down');
          },
        },
        createMetrics(),
      ],
    });
    closing.push(engine);
    engine.on('error', (error) => errors.push(error));
    const { sagaId } = await engine.start(shop, {});
    await clock.runAll();
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
    expect(errors).toEqual([new Error('exporter down')]);
  });
});

describe('metrics on Redis with a worker-only process', () => {
  const prefix = `xsaga-metrics-${randomUUID()}`;
  afterEach(async () => {
    await dropPrefix(prefix);
  });

  it('exposes step metrics in the worker and saga metrics in the engine', async () => {
    const engineMetrics = createMetrics();
    const workerMetrics = createMetrics();
    const engine: Engine = createEngine({
      redis: { connection: REDIS_URL, prefix },
      sagas: [shop],
      instrumentation: engineMetrics,
      stuck: false,
    });
    closing.push(engine);
    const worker: StepWorker = createWorker({
      connection: REDIS_URL,
      prefix,
      handlers: { shop: shopHandlers() },
      instrumentation: workerMetrics,
    });
    closing.push({ close: () => worker.close() });

    const ok = await engine.start(shop, {});
    const rolledBack = await engine.start(shop, { refuse: true });
    expect((await engine.waitFor(ok.sagaId, { timeoutMs: 20_000 })).state).toBe('Completed');
    expect((await engine.waitFor(rolledBack.sagaId, { timeoutMs: 20_000 })).state).toBe('Failed');

    // The worker ran every attempt; its registry has them, and nothing about sagas.
    await eventually(
      async () => Object.keys(await valuesOf(workerMetrics.registry, 'xsaga_step_attempts_total')).length === 6,
    );
    expect(await valuesOf(workerMetrics.registry, 'xsaga_step_attempts_total')).toEqual({
      'saga=shop,step=a,direction=run,outcome=done': 2,
      'saga=shop,step=b,direction=run,outcome=done': 2,
      'saga=shop,step=c,direction=run,outcome=done': 1,
      'saga=shop,step=c,direction=run,outcome=failed': 1,
      'saga=shop,step=b,direction=compensate,outcome=done': 1,
      'saga=shop,step=a,direction=compensate,outcome=done': 1,
    });
    expect(await valuesOf(workerMetrics.registry, 'xsaga_step_attempt_duration_seconds')).toMatchObject({
      'saga=shop,step=a,direction=run': 2,
    });
    expect(await valuesOf(workerMetrics.registry, 'xsaga_sagas_started_total')).toEqual({});
    expect(await valuesOf(workerMetrics.registry, 'xsaga_sagas')).toEqual({});
    const workerText = await workerMetrics.registry.metrics();
    expect(workerText).toContain('xsaga_step_attempts_total{saga="shop",step="a",direction="run",outcome="done"} 2');

    // The engine ran no attempt; it counted sagas and the outcomes it applied.
    expect(await valuesOf(engineMetrics.registry, 'xsaga_step_attempts_total')).toEqual({});
    expect(await valuesOf(engineMetrics.registry, 'xsaga_sagas_started_total')).toEqual({ 'saga=shop': 2 });
    expect(await valuesOf(engineMetrics.registry, 'xsaga_sagas_settled_total')).toEqual({
      'saga=shop,state=Completed': 1,
      'saga=shop,state=Failed': 1,
    });
    expect(await valuesOf(engineMetrics.registry, 'xsaga_compensations_total')).toEqual({
      'saga=shop,step=b,outcome=done': 1,
      'saga=shop,step=a,outcome=done': 1,
    });
    expect(await valuesOf(engineMetrics.registry, 'xsaga_sagas')).toMatchObject({
      'saga=shop,state=Completed': 1,
      'saga=shop,state=Failed': 1,
      'saga=shop,state=Pending': 0,
    });
  });
});
