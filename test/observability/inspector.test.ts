import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { type createBrowserInspector, createWebSocketInspector } from '@statelyai/inspect';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { InspectionEvent } from 'xstate';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine, type EngineOptions } from '../../src/index.ts';
import { INSPECT_RESTORED, inspectionSessionId } from '../../src/observability/saga-inspection.ts';
import { dropPrefix, eventually, REDIS_URL } from '../durable/redis-helpers.ts';
import { recordingLogger } from './recording-logger.ts';

/** A message as `@statelyai/inspect` sends it to the inspector (the fields read here). */
interface StatelyMessage {
  type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  sessionId: string;
  rootId?: string;
  name?: string;
  definition?: string;
  event?: { type: string; step?: string; direction?: string };
  snapshot?: { value?: unknown; status?: string };
}

/** A local WebSocket server standing in for the Stately inspector: it keeps what it receives. */
async function inspectorStandIn() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const messages: StatelyMessage[] = [];
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as StatelyMessage));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    messages,
    connected: () => connections > 0,
    async close() {
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

type StandIn = Awaited<ReturnType<typeof inspectorStandIn>>;

/** What the inspector was told about one saga. */
function seenOf(messages: StatelyMessage[], sagaId: string) {
  const mine = messages.filter((m) => m.sessionId === inspectionSessionId(sagaId));
  return {
    registrations: mine.filter((m) => m.type === '@xstate.actor'),
    events: mine.filter((m) => m.type === '@xstate.event').map((m) => m.event),
    snapshots: mine.filter((m) => m.type === '@xstate.snapshot'),
    values: mine.filter((m) => m.type === '@xstate.snapshot').map((m) => JSON.stringify(m.snapshot?.value)),
  };
}

const settled = (messages: StatelyMessage[], sagaId: string) =>
  seenOf(messages, sagaId).values.some((v) => v === '"Failed"' || v === '"Completed"');

describe('the Stately inspector sees each saga as one live actor', () => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A stand-in inspector server and a websocket inspector connected to it. */
  async function inspector(): Promise<{ standIn: StandIn; inspect: ReturnType<typeof createWebSocketInspector> }> {
    const standIn = await inspectorStandIn();
    cleanups.push(() => standIn.close());
    const inspect = createWebSocketInspector({ url: standIn.url });
    cleanups.push(() => inspect.stop());
    await eventually(async () => standIn.connected());
    return { standIn, inspect };
  }

  function track(engine: Engine, prefix?: string): Engine {
    cleanups.push(async () => {
      await engine.close();
      if (prefix) await dropPrefix(prefix);
    });
    return engine;
  }

  /** Checks what the inspector got for one rolled-back trip saga. */
  function expectRolledBack(messages: StatelyMessage[], sagaId: string) {
    const seen = seenOf(messages, sagaId);
    expect(seen.registrations).toHaveLength(1);
    const [registration] = seen.registrations;
    // Named by its saga id, with its machine definition.
    expect(registration?.name).toBe(sagaId);
    const definition = JSON.parse(registration?.definition ?? '{}') as { id?: string; states?: object };
    expect(definition.id).toBe('trip-booking');
    // (The Stately inspectors send it with sorted keys.)
    expect(Object.keys(definition.states ?? {}).sort()).toEqual(
      ['Started', 'Pending', 'Compensating', 'Completed', 'Failed', 'Escalated'].sort(),
    );
    // Its snapshots through Pending and Compensating, and its step events, as they happened.
    for (const value of [
      { Pending: 'reserveFlight' },
      { Pending: 'chargePayment' },
      { Compensating: 'reserveCar' },
      { Compensating: 'reserveFlight' },
      'Failed',
    ]) {
      expect(seen.values).toContain(JSON.stringify(value));
    }
    const steps = seen.events.filter((e) => e?.type.startsWith('step.'));
    expect(steps.map((e) => `${e?.type} ${e?.direction} ${e?.step}`)).toEqual(
      expect.arrayContaining([
        'step.done run reserveFlight',
        'step.done run reserveCar',
        'step.failed run chargePayment',
        'step.done compensate reserveCar',
        'step.done compensate reserveFlight',
      ]),
    );
    expect(seen.events.map((e) => e?.type)).toContain('saga.start');
  }

  it('embedded: the saga, named by its id, with its definition, snapshots and step events', async () => {
    const { standIn, inspect } = await inspector();
    // `inspect.inspect` is an observer, not a function: what strict TypeScript must accept here.
    const engine = track(
      createEngine({ handlers: { [trip.name]: tripHandlers(new Participants()) }, inspect: inspect.inspect }),
    );
    const { sagaId } = await engine.start(trip, { tripId: 'i-1', cardDeclined: true });
    expect((await engine.waitFor(sagaId)).state).toBe('Failed');
    await eventually(async () => settled(standIn.messages, sagaId));

    expectRolledBack(standIn.messages, sagaId);
    // Nothing else: no step-job child actors, no anonymous `x:N` sessions.
    expect(new Set(standIn.messages.map((m) => m.sessionId))).toEqual(new Set([inspectionSessionId(sagaId)]));
    expect(new Set(standIn.messages.map((m) => m.rootId))).toEqual(new Set([inspectionSessionId(sagaId)]));
  });

  it('embedded: a saga evicted and restored in the same process stays one actor, with no second init', async () => {
    const { standIn, inspect } = await inspector();
    // One hosted saga at a time: running three at once evicts and restores them again and again.
    const engine = track(
      createEngine({
        handlers: { [trip.name]: tripHandlers(new Participants()) },
        inspect: inspect.inspect,
        maxActiveSagas: 1,
      }),
    );
    const started = await Promise.all(
      ['r-1', 'r-2', 'r-3'].map((tripId) => engine.start(trip, { tripId, cardDeclined: true })),
    );
    const ids = started.map((s) => s.sagaId);
    for (const sagaId of ids) expect((await engine.waitFor(sagaId)).state).toBe('Failed');
    await eventually(async () => ids.every((sagaId) => settled(standIn.messages, sagaId)));

    for (const sagaId of ids) {
      expectRolledBack(standIn.messages, sagaId);
      const seen = seenOf(standIn.messages, sagaId);
      expect(seen.events.filter((e) => e?.type === 'xstate.init')).toHaveLength(1);
      // An eviction is not the saga stopping.
      expect(seen.snapshots.filter((s) => s.snapshot?.status === 'stopped')).toEqual([]);
    }
    const restored = standIn.messages.filter(
      (m) => m.type === '@xstate.snapshot' && m.event?.type === INSPECT_RESTORED,
    );
    expect(restored.length).toBeGreaterThan(0);
  });

  it('takes what the Stately inspectors return, by type', () => {
    expectTypeOf<ReturnType<typeof createBrowserInspector>['inspect']>().toExtend<EngineOptions['inspect']>();
    expectTypeOf<ReturnType<typeof createWebSocketInspector>['inspect']>().toExtend<EngineOptions['inspect']>();
    expectTypeOf<(event: InspectionEvent) => void>().toExtend<EngineOptions['inspect']>();
  });

  it('accepts a function too, and shows the actor under its saga id and a stable session id', async () => {
    const events: InspectionEvent[] = [];
    const engine = track(
      createEngine({
        handlers: { [trip.name]: tripHandlers(new Participants()) },
        inspect: (event) => events.push(event),
        maxActiveSagas: 1,
      }),
    );
    const [a, b] = await Promise.all([
      engine.start(trip, { tripId: 'f-1', cardDeclined: false }),
      engine.start(trip, { tripId: 'f-2', cardDeclined: false }),
    ]);
    await engine.waitFor(a?.sagaId ?? '');
    await engine.waitFor(b?.sagaId ?? '');
    const actors = events.filter((e) => e.type === '@xstate.actor').map((e) => e.actorRef);
    expect(actors.map((ref) => [ref.sessionId, (ref as { id?: string }).id]).sort()).toEqual(
      [a?.sagaId ?? '', b?.sagaId ?? ''].map((id) => [inspectionSessionId(id), id]).sort(),
    );
    expect(new Set(events.map((e) => e.actorRef.sessionId))).toEqual(
      new Set([a?.sagaId ?? '', b?.sagaId ?? ''].map(inspectionSessionId)),
    );
    // The actor is live: reading its snapshot through the event reads the saga's.
    const last = events.filter((e) => e.actorRef.sessionId === inspectionSessionId(a?.sagaId ?? '')).at(-1);
    expect(last?.actorRef.getSnapshot().value).toBe('Completed');
  });

  it('an inspector that throws is logged and never breaks a saga', async () => {
    const logger = recordingLogger();
    const engine = track(
      createEngine({
        handlers: { [trip.name]: tripHandlers(new Participants()) },
        inspect: {
          next: () => {
            throw new Error('inspector down');
          },
        },
        logger,
      }),
    );
    const { sagaId } = await engine.start(trip, { tripId: 't-1', cardDeclined: false });
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
    const warnings = logger.at('warn');
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatchObject({ fields: { sagaId, component: 'engine' } });
  });

  it('a saga that is never hosted (a repeated start) is not shown again', async () => {
    const events: InspectionEvent[] = [];
    const engine = track(
      createEngine({ handlers: { [trip.name]: tripHandlers(new Participants()) }, inspect: (e) => events.push(e) }),
    );
    const first = await engine.start(trip, { tripId: 'once' }, { idempotencyKey: 'k' });
    await engine.waitFor(first.sagaId);
    const again = await engine.start(trip, { tripId: 'once' }, { idempotencyKey: 'k' });
    expect(again).toEqual({ sagaId: first.sagaId, created: false });
    expect(events.filter((e) => e.type === '@xstate.actor')).toHaveLength(1);
  });

  describe('on Redis', () => {
    function redisEngine(prefix: string, inspect: ReturnType<typeof createWebSocketInspector>, handlers: boolean) {
      return track(
        createEngine({
          redis: { connection: REDIS_URL, prefix },
          sagas: [trip],
          ...(handlers ? { handlers: { [trip.name]: tripHandlers(new Participants()) } } : {}),
          inspect: inspect.inspect,
          maxActiveSagas: 1,
        }),
        prefix,
      );
    }

    it('one actor per saga, however often it is restored in this process', async () => {
      const { standIn, inspect } = await inspector();
      const engine = redisEngine(`xsaga-inspect-${randomUUID()}`, inspect, true);
      const started = await Promise.all(
        ['d-1', 'd-2', 'd-3'].map((tripId) => engine.start(trip, { tripId, cardDeclined: true })),
      );
      const ids = started.map((s) => s.sagaId);
      for (const sagaId of ids) expect((await engine.waitFor(sagaId, { timeoutMs: 20_000 })).state).toBe('Failed');
      await eventually(async () => ids.every((sagaId) => settled(standIn.messages, sagaId)));
      for (const sagaId of ids) expectRolledBack(standIn.messages, sagaId);
      expect(standIn.messages.every((m) => ids.map(inspectionSessionId).includes(m.sessionId))).toBe(true);
    });

    it('two engine processes: each registers the saga at most once, under one session id, and between them every event is shown', async () => {
      const a = await inspector();
      const b = await inspector();
      const prefix = `xsaga-inspect-${randomUUID()}`;
      // Both consume outcomes: whichever takes one hydrates the saga and applies it.
      const engineA = redisEngine(prefix, a.inspect, true);
      redisEngine(prefix, b.inspect, false);
      const started = await Promise.all(
        ['m-1', 'm-2', 'm-3', 'm-4'].map((tripId) => engineA.start(trip, { tripId, cardDeclined: true })),
      );
      const ids = started.map((s) => s.sagaId);
      for (const sagaId of ids) expect((await engineA.waitFor(sagaId, { timeoutMs: 20_000 })).state).toBe('Failed');
      const both = () => [...a.standIn.messages, ...b.standIn.messages];
      await eventually(async () => ids.every((sagaId) => settled(both(), sagaId)));

      // The second process did take part (it applied outcomes, so it hydrated sagas).
      expect(b.standIn.messages.some((m) => m.type === '@xstate.actor')).toBe(true);
      for (const sagaId of ids) {
        for (const standIn of [a.standIn, b.standIn]) {
          expect(seenOf(standIn.messages, sagaId).registrations.length).toBeLessThanOrEqual(1);
        }
        const all = both();
        // What the inspector shows when both processes feed it: one registration per process.
        const union = seenOf(all, sagaId);
        expect(union.registrations.length).toBeGreaterThanOrEqual(1);
        expect(union.values).toContain(JSON.stringify({ Compensating: 'reserveFlight' }));
        expect(union.values).toContain('"Failed"');
        expect(union.events.map((e) => `${e?.type} ${e?.direction} ${e?.step}`)).toEqual(
          expect.arrayContaining(['step.failed run chargePayment', 'step.done compensate reserveFlight']),
        );
      }
    });
  });

  it('examples/inspector runs as a program and shows the saga as one actor', async () => {
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', 'examples/inspector/main.ts'], {
      timeout: 60_000,
    });
    expect(stdout).toContain('saga trip-t-300: Failed');
    expect(stdout).toContain('xsaga:trip-t-300  registered "trip-t-300" with its machine "trip-booking"');
    expect(stdout).toContain('xsaga:trip-t-300  snapshot {"Compensating":"reserveFlight"}');
    expect(stdout).toContain('xsaga:trip-t-300  event step.failed run chargePayment');
  }, 60_000);
});
