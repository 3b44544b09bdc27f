import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { BullMqQueue, createEngine, createWorker, type StepOutcome } from '../../src/index.ts';
import { OutageReporter, REPEAT_AFTER_MS, warnOnLogger } from '../../src/observability/outage-reporter.ts';
import { freePort, OwnRedis } from '../durable/redis-server.ts';
import { recordingLogger } from './recording-logger.ts';

/** A stand-in for a BullMQ Queue or Worker: `error` on itself, `ready` on its backend. */
class FakeSource extends EventEmitter {
  readonly backend = new EventEmitter();
  getBackend() {
    return this.backend;
  }
  fail(error: unknown) {
    this.emit('error', error);
  }
  ready() {
    this.backend.emit('ready');
  }
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
const noPerm = () =>
  Object.assign(new Error("NOPERM this user has no permissions to run the 'info' command"), {
    name: 'ReplyError',
  });

function watched(count = 1) {
  const reports: unknown[] = [];
  let now = 0;
  const clock = { now: () => now };
  const reporter = new OutageReporter((error) => reports.push(error), clock);
  const sources = Array.from({ length: count }, () => {
    const source = new FakeSource();
    reporter.watch(source);
    return source;
  });
  const advance = (ms: number) => {
    now += ms;
  };
  return { reports, sources, advance };
}

describe('OutageReporter', () => {
  it('reports the first connection error of an outage and none of the retries that follow', () => {
    const { reports, sources } = watched();
    const [source] = sources as [FakeSource];
    const first = reset();
    source.fail(first);
    for (let i = 0; i < 50; i++) source.fail(refused());
    expect(reports).toEqual([first]);
  });

  it('reports the next outage once a connection was ready again', () => {
    const { reports, sources } = watched();
    const [source] = sources as [FakeSource];
    source.fail(refused());
    source.fail(refused());
    source.ready();
    source.fail(refused());
    source.fail(refused());
    expect(reports).toHaveLength(2);
  });

  it('reports an outage once when every watched Queue and Worker sees it', () => {
    const { reports, sources } = watched(3);
    for (let round = 0; round < 5; round++) for (const source of sources) source.fail(refused());
    expect(reports).toHaveLength(1);
  });

  it('does not count errors during an outage as news, whatever they are', () => {
    const { reports, sources } = watched();
    const [source] = sources as [FakeSource];
    source.fail(refused());
    source.fail(new Error('Connection is closed.'));
    source.fail(noPerm());
    expect(reports).toHaveLength(1);
  });

  it('reports an error that is not about the connection, and an identical one again only after a while', () => {
    const { reports, sources, advance } = watched();
    const [source] = sources as [FakeSource];
    for (let i = 0; i < 1000; i++) source.fail(noPerm());
    expect(reports).toHaveLength(1);
    advance(REPEAT_AFTER_MS - 1);
    source.fail(noPerm());
    expect(reports).toHaveLength(1);
    advance(1);
    source.fail(noPerm());
    expect(reports).toHaveLength(2);
  });

  it('reports a different error at once, and a connection error even right after another error', () => {
    const { reports, sources } = watched();
    const [source] = sources as [FakeSource];
    source.fail(noPerm());
    source.fail(new Error('something else'));
    source.fail(refused());
    expect(reports).toHaveLength(3);
  });

  it('forgets the errors it has seen once a connection is ready again', () => {
    const { reports, sources } = watched();
    const [source] = sources as [FakeSource];
    source.fail(noPerm());
    source.ready();
    source.fail(noPerm());
    expect(reports).toHaveLength(2);
  });

  it('stays bounded when every error message is different', () => {
    const { reports, sources } = watched();
    const [source] = sources as [FakeSource];
    for (let i = 0; i < 500; i++) source.fail(new Error(`job ${i} failed`));
    expect(reports).toHaveLength(500);
  });
});

describe('warnOnLogger (the default onError)', () => {
  it('logs one warn line with the error under err, on the logger it is given', () => {
    const logger = recordingLogger();
    const error = refused();
    warnOnLogger(logger.child({ component: 'worker' }))(error);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({ level: 'warn', fields: { component: 'worker', err: error } });
    expect(logger.lines[0]?.msg).toMatch(/^Redis connection lost \(.*ECONNREFUSED.*\)/);
  });
});

describe('BullMQ connections report once per outage', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    vi.restoreAllMocks();
  });

  /** Fails the test if anything reaches the console (BullMQ's unhandled `error` prints there). */
  function watchConsole() {
    return [
      vi.spyOn(console, 'error').mockImplementation(() => undefined),
      vi.spyOn(console, 'warn').mockImplementation(() => undefined),
    ];
  }

  it('a BullMqQueue and a worker pointed at a closed port each report once, and print nothing', async () => {
    const printed = watchConsole();
    const connection = `redis://127.0.0.1:${await freePort()}`;
    const queueErrors: unknown[] = [];
    const workerErrors: unknown[] = [];
    const queue = new BullMqQueue({ connection, onError: (e) => queueErrors.push(e) });
    const worker = createWorker({
      connection,
      runAttempt: async () => undefined,
      onError: (e) => workerErrors.push(e),
    });
    // A Worker that never connected only closes by force (BullMQ waits for the connection otherwise).
    cleanups.push(
      () => queue.close(),
      () => worker.close(true),
    );

    // BullMQ retries about once a second on each connection (two Queues here; a Queue and a Worker
    // with two connections there): a dozen raw errors each in these 3.5 s.
    await new Promise((r) => setTimeout(r, 3_500));
    expect(queueErrors).toHaveLength(1);
    expect(workerErrors).toHaveLength(1);
    expect((queueErrors[0] as { code?: string }).code).toBe('ECONNREFUSED');
    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  });

  it('a BullMqQueue consuming outcomes and a worker report each Redis outage once, however long', async () => {
    const printed = watchConsole();
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const queueErrors: unknown[] = [];
    const workerErrors: unknown[] = [];
    const queue = new BullMqQueue({ connection: redis.url, onError: (e) => queueErrors.push(e) });
    queue.consume(async (_outcome: StepOutcome) => undefined);
    const worker = createWorker({
      connection: redis.url,
      runAttempt: async () => 1,
      onError: (e) => workerErrors.push(e),
    });
    // Closed while Redis is up again (see the end of the test).
    cleanups.push(
      () => queue.close(),
      () => worker.close(),
    );

    for (let outage = 1; outage <= 2; outage++) {
      await redis.kill();
      // BullMQ retries each of its five connections about once a second: a dozen raw errors.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(queueErrors).toHaveLength(outage);
      expect(workerErrors).toHaveLength(outage);
      await redis.restart();
      // Every connection retries within about a second: let them all come back.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(queueErrors).toHaveLength(outage);
      expect(workerErrors).toHaveLength(outage);
    }
    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  }, 60_000);

  it("createWorker's default logs one warn line per outage on its logger", async () => {
    const logger = recordingLogger();
    const worker = createWorker({
      connection: `redis://127.0.0.1:${await freePort()}`,
      runAttempt: async () => 1,
      logger,
    });
    cleanups.push(() => worker.close(true));
    await new Promise((r) => setTimeout(r, 2_500));
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({ level: 'warn', fields: { component: 'worker' } });
    expect(logger.lines[0]?.msg).toMatch(/^Redis connection lost/);
  });

  it('an engine reports each Redis outage on its error event, once per component (store, queue, worker), and recovers', async () => {
    const printed = watchConsole();
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const engine = createEngine({
      redis: { connection: redis.url, prefix: 'outage' },
      sagas: [trip],
      handlers: { [trip.name]: tripHandlers(new Participants()) },
    });
    cleanups.push(() => engine.close());
    const errors: unknown[] = [];
    engine.on('error', (error) => errors.push(error));
    const first = await engine.start(trip, { tripId: 'before' });
    expect((await engine.waitFor(first.sagaId, { timeoutMs: 10_000 })).state).toBe('Completed');

    for (let outage = 1; outage <= 2; outage++) {
      await redis.kill();
      await new Promise((r) => setTimeout(r, 2_500));
      await redis.restart();
      const reported = errors.length;
      // The engine's store, queue and worker each report the outage (three components), never each retry.
      expect(reported).toBeGreaterThanOrEqual(outage);
      expect(reported).toBeLessThanOrEqual(3 * outage);
      const { sagaId } = await engine.start(trip, { tripId: `after-${outage}` });
      expect((await engine.waitFor(sagaId, { timeoutMs: 20_000 })).state).toBe('Completed');
    }
    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  }, 60_000);
});
