import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStepRunner } from '../../src/engine/step-runner.ts';
import { createEngine, createTracing, type Engine, type StepJob } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';
import { shop, shopHandlers } from './shop-saga.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const exporter = new InMemorySpanExporter();
const tracer = trace.getTracer('test');

beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  trace.disable();
  propagation.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

const spans = () => exporter.getFinishedSpans();
const named = (name: string) => spans().filter((s) => s.name === name);
const one = (name: string) => {
  const found = named(name);
  expect(found, `spans named "${name}"`).toHaveLength(1);
  return found[0] as ReadableSpan;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

/** Runs `start` inside an active `request` span, as a web handler calling the engine would. */
async function inRequest<T>(start: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan('request', async (span) => {
    try {
      return await start();
    } finally {
      span.end();
    }
  });
}

/** An embedded engine with tracing on a TestClock (also kept as the suite's `engine`, closed after each test). */
function tracedEngine(): { clock: TestClock; traced: Engine } {
  const clock = new TestClock();
  const traced = createEngine({
    clock,
    random: () => 0,
    handlers: { shop: shopHandlers() },
    instrumentation: createTracing(),
  });
  engine = traced;
  return { clock, traced };
}

describe('tracing of an embedded engine', () => {
  it('makes one saga span under the caller and one span per attempt under it, handlers inside', async () => {
    const clock = new TestClock();
    engine = createEngine({
      clock,
      random: () => 0,
      handlers: { shop: shopHandlers((ctx) => tracer.startSpan(`participant ${ctx.step}`).end()) },
      instrumentation: createTracing(),
    });
    const { sagaId } = await inRequest(() => (engine as Engine).start(shop, { slowFirst: true }));
    await clock.runAll();
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');

    const request = one('request');
    const saga = one('saga shop');
    expect(parentOf(saga)).toBe(idOf(request));
    expect(traceOf(saga)).toBe(traceOf(request));
    expect(saga.attributes).toMatchObject({
      'xsaga.saga.name': 'shop',
      'xsaga.saga.id': sagaId,
      'xsaga.saga.version': 1,
      'xsaga.saga.state': 'Completed',
    });
    expect(saga.status.code).toBe(SpanStatusCode.UNSET);
    expect(saga.events.map((e) => e.attributes?.['xsaga.transition.to'])).toEqual([
      'Pending.a',
      'Pending.b',
      'Pending.c',
      'Completed',
    ]);

    const [timedOut, retried] = named('step a').sort(
      (x, y) => Number(x.attributes['xsaga.step.attempt']) - Number(y.attributes['xsaga.step.attempt']),
    ) as [ReadableSpan, ReadableSpan];
    expect(timedOut.attributes).toMatchObject({
      'xsaga.saga.name': 'shop',
      'xsaga.saga.id': sagaId,
      'xsaga.step': 'a',
      'xsaga.step.direction': 'run',
      'xsaga.step.attempt': 1,
      'xsaga.step.outcome': 'timeout',
    });
    expect(timedOut.status).toEqual({ code: SpanStatusCode.ERROR, message: expect.stringContaining('did not finish') });
    expect(timedOut.events.map((e) => e.name)).toEqual(['exception']);
    expect(retried.attributes).toMatchObject({ 'xsaga.step.attempt': 2, 'xsaga.step.outcome': 'done' });
    for (const step of [timedOut, retried, one('step b'), one('step c')]) {
      expect(parentOf(step)).toBe(idOf(saga));
      expect(traceOf(step)).toBe(traceOf(saga));
    }
    // What a handler does is traced inside its attempt's span.
    const participants = named('participant a');
    expect(participants.map(parentOf).sort()).toEqual([idOf(timedOut), idOf(retried)].sort());
    expect(parentOf(one('participant c'))).toBe(idOf(one('step c')));
  });

  it('makes compensation spans, and marks the failed attempt and the rolled-back saga as errors', async () => {
    const { clock, traced } = tracedEngine();
    const { sagaId } = await traced.start(shop, { refuse: true });
    await clock.runAll();
    expect((await traced.waitFor(sagaId)).state).toBe('Failed');

    const saga = one('saga shop');
    expect(parentOf(saga)).toBeUndefined(); // no caller span: the saga starts the trace
    expect(saga.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Failed: c refused' });
    const refused = one('step c');
    expect(refused.attributes).toMatchObject({ 'xsaga.step.outcome': 'failed' });
    expect(refused.status).toEqual({ code: SpanStatusCode.ERROR, message: 'c refused' });
    expect(refused.events[0]?.attributes).toMatchObject({ 'exception.message': 'c refused' });
    for (const name of ['compensate b', 'compensate a']) {
      const undo = one(name);
      expect(undo.attributes).toMatchObject({ 'xsaga.step.direction': 'compensate', 'xsaga.step.outcome': 'done' });
      expect(parentOf(undo)).toBe(idOf(saga));
      expect(traceOf(undo)).toBe(traceOf(saga));
    }
  });

  it('ends the span of an escalated saga as an error naming the compensation', async () => {
    const { clock, traced } = tracedEngine();
    const { sagaId } = await traced.start(shop, { refuse: true, undoFails: true });
    await clock.runAll();
    expect((await traced.waitFor(sagaId)).state).toBe('Escalated');
    expect(one('saga shop').status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'Escalated: compensation of "b" failed: undo of b failed',
    });
    expect(named('compensate b').map((s) => s.attributes['xsaga.step.outcome'])).toEqual(['failed', 'failed']);
  });

  it('takes an attempt’s parent from its job only, never from the active context of the process', async () => {
    const run = createStepRunner({ shop: shopHandlers() }, new TestClock(), createTracing());
    const job: StepJob = {
      id: 'j1',
      sagaId: 's1',
      sagaName: 'shop',
      sagaVersion: 1,
      step: 'b',
      direction: 'run',
      round: 0,
      idempotencyKey: 's1~b~run',
      input: { slowFirst: false, refuse: false, undoFails: false },
      results: {},
      policy: shop.steps[1]?.run as StepJob['policy'],
    };
    await inRequest(() => run(job, 1));
    expect(parentOf(one('step b'))).toBeUndefined();
    expect(traceOf(one('step b'))).not.toBe(traceOf(one('request')));
  });

  it('ends saga spans still open when the engine closes, marked open', async () => {
    const clock = new TestClock();
    engine = createEngine({ clock, handlers: { shop: shopHandlers() }, instrumentation: createTracing() });
    await engine.start(shop, { slowFirst: true }); // parked on a's first attempt until the clock moves
    await engine.close();
    expect(one('saga shop').attributes).toMatchObject({ 'xsaga.saga.open': true });
  });
});

describe('tracing across an engine and a worker process over Redis', () => {
  const prefix = `xsaga-trace-${randomUUID()}`;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await dropPrefix(prefix);
  });

  it('continues the saga’s trace in the worker from the job data', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'test/observability/fixtures/traced-worker.ts'], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL, XSAGA_PREFIX: prefix },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const worker = child;
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('exit', (code) => reject(new Error(`traced worker exited (${code})`)));
    });
    engine = createEngine({
      redis: { connection: REDIS_URL, prefix },
      sagas: [shop],
      instrumentation: createTracing(),
    });
    const ok = await inRequest(() => (engine as Engine).start(shop, {}));
    const rolledBack = await (engine as Engine).start(shop, { refuse: true });
    expect((await engine.waitFor(ok.sagaId, { timeoutMs: 20_000 })).state).toBe('Completed');
    expect((await engine.waitFor(rolledBack.sagaId, { timeoutMs: 20_000 })).state).toBe('Failed');

    type Remote = {
      name: string;
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      attributes: Record<string, unknown>;
    };
    const remote = await new Promise<Remote[]>((resolve) => {
      worker.on('message', (message: { type: string; spans?: Remote[] }) => {
        if (message.type === 'spans') resolve(message.spans ?? []);
      });
      worker.send({ type: 'stop' });
    });

    // The engine ran no step: its spans are the sagas' (and the request's).
    expect(spans().filter((s) => s.name.startsWith('step ') || s.name.startsWith('compensate '))).toEqual([]);
    const sagaSpans = named('saga shop');
    expect(sagaSpans).toHaveLength(2);
    const sagaSpanOf = (sagaId: string) =>
      sagaSpans.find((s) => s.attributes['xsaga.saga.id'] === sagaId) as ReadableSpan;
    expect(parentOf(sagaSpanOf(ok.sagaId))).toBe(idOf(one('request')));

    const attemptsOf = (sagaId: string) =>
      remote.filter(
        (s) => s.attributes['xsaga.saga.id'] === sagaId && s.name !== undefined && !s.name.startsWith('participant'),
      );
    expect(
      attemptsOf(ok.sagaId)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['step a', 'step b', 'step c']);
    expect(
      attemptsOf(rolledBack.sagaId)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['compensate a', 'compensate b', 'step a', 'step b', 'step c']);
    for (const sagaId of [ok.sagaId, rolledBack.sagaId]) {
      const saga = sagaSpanOf(sagaId);
      for (const attempt of attemptsOf(sagaId)) {
        expect(attempt.traceId).toBe(traceOf(saga));
        expect(attempt.parentSpanId).toBe(idOf(saga));
      }
    }
    // The participant's own span in the worker nests under the attempt that ran it.
    const stepA = attemptsOf(ok.sagaId).find((s) => s.name === 'step a');
    const participantA = remote.filter(
      (s) => s.name === 'participant a' && s.traceId === traceOf(sagaSpanOf(ok.sagaId)),
    );
    expect(participantA.map((s) => s.parentSpanId)).toEqual([stepA?.spanId]);
  });
});
