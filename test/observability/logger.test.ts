import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createEngine,
  defineSaga,
  type Engine,
  InProcessQueue,
  MemoryStore,
  type StepQueue,
  TerminalError,
} from '../../src/index.ts';
import { RECOVERY_REPORT_EVERY, type RecoveryProgress } from '../../src/observability/engine-events.ts';
import { createStderrLogger, type Logger, silentLogger } from '../../src/observability/logger.ts';
import { eventually } from '../durable/redis-helpers.ts';
import { recordingLogger } from './recording-logger.ts';

const saga = defineSaga({
  name: 'logged',
  version: 1,
  input: z.object({ n: z.number() }),
  steps: [
    { name: 'reserve', compensate: { retry: { attempts: 1 } } },
    { name: 'charge', compensate: true },
  ],
});

/** Handlers whose charge fails for good and whose undo of reserve fails too: the saga escalates. */
const escalating = {
  logged: {
    reserve: {
      run: async () => 'r',
      compensate: async () => {
        throw new TerminalError('cannot undo');
      },
    },
    charge: {
      run: async () => {
        throw new TerminalError('declined');
      },
      compensate: async () => undefined,
    },
  },
};

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

function track(engine: Engine): Engine {
  engines.push(engine);
  return engine;
}

/** Lines written to a fake stderr. */
function lines() {
  const written: string[] = [];
  return { written, write: (line: string) => written.push(line), json: () => written.map((l) => JSON.parse(l)) };
}

describe('createStderrLogger (the default)', () => {
  it('writes warn and error only, each as one JSON line with bindings, fields and msg', () => {
    const out = lines();
    const logger = createStderrLogger({ write: out.write }).child({ component: 'worker' }).child({ sagaId: 's-1' });
    logger.debug({ a: 1 }, 'not written');
    logger.info({ a: 2 }, 'not written either');
    logger.warn({ attempt: 3 }, 'watch out');
    expect(out.written).toHaveLength(1);
    expect(out.written[0]?.endsWith('\n')).toBe(true);
    expect(out.written[0]?.trimEnd()).not.toContain('\n');
    expect(out.json()[0]).toEqual({
      level: 'warn',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      name: 'xsaga',
      component: 'worker',
      sagaId: 's-1',
      attempt: 3,
      msg: 'watch out',
    });
  });

  it('writes an error under err as { type, message, code }, with the stack on error lines only', () => {
    const out = lines();
    const logger = createStderrLogger({ write: out.write });
    const error = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    logger.warn({ err: error }, 'lost');
    logger.error({ err: error }, 'failed');
    const [warn, failed] = out.json();
    expect(warn.err).toEqual({ type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' });
    expect(failed.err.stack).toContain('connect ECONNREFUSED');
  });

  it('never throws on what JSON cannot hold: cycles, BigInt, an error caused by itself', () => {
    const out = lines();
    const logger = createStderrLogger({ write: out.write, level: 'debug' });
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const selfCaused = new Error('again');
    (selfCaused as { cause?: unknown }).cause = selfCaused;
    logger.debug({ cycle, big: 10n, err: selfCaused, fn: () => 1 }, 'odd values');
    expect(out.json()[0]).toMatchObject({
      level: 'debug',
      cycle: { name: 'loop', self: '[Circular]' },
      big: '10',
      err: { type: 'Error', message: 'again', cause: '[Circular]' },
      msg: 'odd values',
    });
  });

  it('level silent writes nothing; silentLogger drops everything', () => {
    const out = lines();
    createStderrLogger({ write: out.write, level: 'silent' }).error({}, 'nothing');
    silentLogger.child({ a: 1 }).error({}, 'nothing');
    expect(out.written).toEqual([]);
  });

  it('says which levels it writes (isLevelEnabled, as pino does), children alike', () => {
    const info = createStderrLogger({ write: lines().write, level: 'info' });
    expect(['debug', 'info', 'warn', 'error'].map((level) => info.isLevelEnabled?.(level as 'debug'))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    expect(info.child({ a: 1 }).isLevelEnabled?.('debug')).toBe(false);
    expect(createStderrLogger({ level: 'silent' }).isLevelEnabled?.('error')).toBe(false);
    expect(silentLogger.isLevelEnabled?.('error')).toBe(false);
  });
});

describe('pino fits the Logger interface', () => {
  it('by type: a pino logger is a Logger, and so are its children', () => {
    expectTypeOf(pino()).toExtend<Logger>();
    expectTypeOf(pino().child({ app: 'x' })).toExtend<Logger>();
    // A pino-shaped object of one's own fits too.
    const log = (_obj: object, _msg?: string, ..._args: unknown[]) => undefined;
    interface PinoShaped {
      level: string;
      debug: typeof log;
      info: typeof log;
      warn: typeof log;
      error: typeof log;
      fatal: typeof log;
      child(bindings: Record<string, unknown>, options?: object): PinoShaped;
    }
    expectTypeOf<PinoShaped>().toExtend<Logger>();
    // @ts-expect-error a logger without child() cannot carry sagaId/step bindings
    const missing: Logger = { debug: log, info: log, warn: log, error: log };
    expect(missing).toBeDefined();
  });

  it('in use: the engine logs an escalation through pino with the saga and step bound', async () => {
    const written: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    const engine = track(createEngine({ handlers: escalating, logger: pino({ level: 'debug' }, destination) }));
    const { sagaId } = await engine.start(saga, { n: 1 });
    expect((await engine.waitFor(sagaId)).state).toBe('Escalated');
    const parsed = written.flatMap((chunk) => chunk.trim().split('\n')).map((l) => JSON.parse(l));
    const escalation = parsed.find((l) => l.msg?.startsWith('saga escalated'));
    expect(escalation).toMatchObject({ level: 40, component: 'engine', sagaId, step: 'reserve' });
    // Transitions at debug, from a child carrying the saga (and the step of a step outcome).
    expect(parsed.filter((l) => l.level === 20 && l.sagaId === sagaId).length).toBeGreaterThan(3);
    expect(parsed.some((l) => l.level === 20 && l.step === 'charge' && l.event === 'step.failed')).toBe(true);
  });
});

describe('what the engine logs', () => {
  it('no transition line, nor a child logger for one, when the logger says debug is off', async () => {
    const debug: unknown[] = [];
    const bindings: unknown[] = [];
    const quiet: Logger = {
      debug: (fields) => debug.push(fields),
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      child: (more) => {
        bindings.push(more);
        return quiet;
      },
      isLevelEnabled: (level) => level !== 'debug',
    };
    const engine = track(createEngine({ handlers: escalating, logger: quiet }));
    const { sagaId } = await engine.start(saga, { n: 1 });
    expect((await engine.waitFor(sagaId)).state).toBe('Escalated');
    expect(debug).toEqual([]);
    // One child bound to the saga: the escalation's warning; none per transition.
    expect(bindings.filter((b) => (b as { sagaId?: unknown }).sagaId === sagaId)).toHaveLength(1);
  });

  it('a background error at error level, even with an error listener; the saga goes on', async () => {
    const logger = recordingLogger();
    const engine = track(createEngine({ handlers: escalating, logger }));
    const heard: unknown[] = [];
    engine.on('error', (error) => heard.push(error));
    engine.on('transition', () => {
      throw new Error('listener bug');
    });
    const { sagaId } = await engine.start(saga, { n: 1 });
    expect((await engine.waitFor(sagaId)).state).toBe('Escalated');
    expect(heard.length).toBeGreaterThan(0);
    const errors = logger.at('error');
    expect(errors).toHaveLength(heard.length);
    expect(errors[0]).toMatchObject({ fields: { component: 'engine', err: heard[0] } });
  });

  it('an outcome the in-process queue could not deliver, with the saga and step bound', async () => {
    const logger = recordingLogger();
    const queue = new InProcessQueue({ runAttempt: async () => 'ok', logger });
    queue.consume(async () => {
      throw new Error('store down');
    });
    await queue.enqueue({
      id: 'j1',
      sagaId: 's-9',
      sagaName: 'logged',
      sagaVersion: 1,
      step: 'reserve',
      direction: 'run',
      round: 0,
      input: {},
      results: {},
      idempotencyKey: 's-9~reserve~run',
      policy: saga.steps[0]?.run ?? (undefined as never),
    });
    // Delivery fails after the attempt: wait for the report rather than a fixed time.
    await eventually(async () => logger.at('error').length > 0);
    await queue.close();
    expect(logger.at('error')).toEqual([
      expect.objectContaining({
        fields: expect.objectContaining({ component: 'queue', sagaId: 's-9', step: 'reserve', jobId: 'j1' }),
      }),
    ]);
  });

  it('recover() reports progress every RECOVERY_REPORT_EVERY sagas and at the end, and logs it at info', async () => {
    // A queue that takes jobs and never runs them: every started saga stays Pending.
    const idle: StepQueue = {
      enqueue: async () => undefined,
      consume: () => undefined,
      ack: async () => undefined,
      close: async () => undefined,
    };
    const store = new MemoryStore();
    const first = track(createEngine({ store, queue: idle, logger: silentLogger }));
    const count = 2 * RECOVERY_REPORT_EVERY + 50;
    for (let n = 0; n < count; n++) await first.start(saga, { n });

    const logger = recordingLogger();
    const second = track(createEngine({ store, queue: idle, sagas: [saga], logger }));
    const reports: RecoveryProgress[] = [];
    second.on('recovering', (progress) => reports.push(progress));
    expect(await second.recover()).toBe(count);
    expect(reports).toEqual([
      { state: 'Pending', recovered: RECOVERY_REPORT_EVERY, failed: 0, done: false },
      { state: 'Pending', recovered: 2 * RECOVERY_REPORT_EVERY, failed: 0, done: false },
      { state: 'Compensating', recovered: count, failed: 0, done: true },
    ]);
    expect(logger.at('info').map((l) => [l.msg, l.fields.recovered])).toEqual([
      ['recovering unsettled sagas', RECOVERY_REPORT_EVERY],
      ['recovering unsettled sagas', 2 * RECOVERY_REPORT_EVERY],
      ['recovery done', count],
    ]);
  });
});
