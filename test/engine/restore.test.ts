import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readStoredSnapshot } from '../../src/engine/compact-snapshot.ts';
import type { Engine, HandlerRegistry, SagaRecord, SagaUpdate, StepContext, TransitionEntry } from '../../src/index.ts';
import { createEngine, defineSaga, InProcessQueue, MemoryStore, TerminalError } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { caught } from '../support/caught.ts';

const saga = defineSaga({
  name: 'restorable',
  version: 1,
  input: z.object({ orderId: z.string() }),
  steps: [
    { name: 'a', compensate: true },
    { name: 'b', compensate: true },
    { name: 'c', compensate: true },
    { name: 'd', compensate: true },
  ],
});
type Name = 'a' | 'b' | 'c' | 'd';
const NAMES: Name[] = ['a', 'b', 'c', 'd'];

/**
 * A memory store that hands out snapshots after a JSON round trip, as a store on Redis would:
 * restoring must not depend on anything JSON cannot carry.
 */
class JsonStore extends MemoryStore {
  override async load(sagaId: string): Promise<SagaRecord | undefined> {
    const record = await super.load(sagaId);
    return record && (JSON.parse(JSON.stringify(record)) as SagaRecord);
  }
}

/** What one engine's handlers do and saw. */
interface Process {
  calls: string[];
  keys: string[];
  /** Steps (`a.run`, `b.compensate`) that never return in this process: it "dies" there. */
  hangOn: Set<string>;
  /** Steps whose run throws TerminalError. */
  failAt: Set<Name>;
  /** Compensations that throw. */
  failUndo: Set<Name>;
  hung: Promise<void>;
  handlers: HandlerRegistry;
}

function processHandlers(): Process {
  let reached!: () => void;
  const p: Process = {
    calls: [],
    keys: [],
    hangOn: new Set(),
    failAt: new Set(),
    failUndo: new Set(),
    hung: new Promise<void>((resolve) => {
      reached = resolve;
    }),
    handlers: {},
  };
  const body = (name: Name, direction: 'run' | 'compensate') => async (ctx: StepContext) => {
    const call = `${name}.${direction}`;
    p.calls.push(call);
    p.keys.push(ctx.idempotencyKey);
    if (p.hangOn.has(call)) {
      reached();
      return new Promise(() => {});
    }
    if (direction === 'run' && p.failAt.has(name)) throw new TerminalError(`${name} refused`);
    if (direction === 'compensate' && p.failUndo.has(name)) throw new TerminalError(`${name} cannot be undone`);
    return `${name}@${ctx.input && (ctx.input as { orderId: string }).orderId}`;
  };
  p.handlers = {
    restorable: Object.fromEntries(NAMES.map((n) => [n, { run: body(n, 'run'), compensate: body(n, 'compensate') }])),
  };
  return p;
}

const count = (calls: string[], call: string) => calls.filter((c) => c === call).length;

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

function engineOn(
  store: MemoryStore,
  handlers: HandlerRegistry,
  extra: Parameters<typeof createEngine>[0] = {},
): Engine {
  const engine = createEngine({ store, handlers, clock: new TestClock(), random: () => 0, ...extra });
  engines.push(engine);
  return engine;
}

/** Engine A runs the saga until it hangs at `hangOn`, then is closed: the process died there. */
async function dieAt(store: MemoryStore, hangOn: string, setup: (p: Process) => void = () => {}) {
  const first = processHandlers();
  first.hangOn.add(hangOn);
  setup(first);
  const engineA = engineOn(store, first.handlers);
  const { sagaId } = await engineA.start(saga, { orderId: 'o1' }, { sagaId: 'order-1' });
  await first.hung;
  await engineA.close();
  return { sagaId, first };
}

describe('restoring a saga into a new engine', () => {
  it('continues a Pending saga from the stored snapshot without re-running finished steps (recover)', async () => {
    const store = new JsonStore();
    const { sagaId, first } = await dieAt(store, 'c.run');
    expect(first.calls).toEqual(['a.run', 'b.run', 'c.run']);
    expect((await store.load(sagaId))?.state).toBe('Pending');

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    expect(await engineB.recover()).toBe(1);
    const view = await engineB.waitFor(sagaId);

    expect(second.calls).toEqual(['c.run', 'd.run']);
    expect(NAMES.map((n) => count(first.calls, `${n}.run`) + count(second.calls, `${n}.run`))).toEqual([1, 1, 2, 1]);
    expect(view.state).toBe('Completed');
    expect(view.completed).toEqual(['a', 'b', 'c', 'd']);
    // Results from engine A are still there for later steps.
    expect(view.steps.map((s) => s.result)).toEqual(['a@o1', 'b@o1', 'c@o1', 'd@o1']);
  });

  it('gives the re-run step the same idempotency key in the new engine', async () => {
    const store = new JsonStore();
    const { first } = await dieAt(store, 'b.run');
    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    await engineB.recover();
    await engineB.waitFor('order-1');
    expect(first.keys.at(-1)).toBe('order-1~b~run');
    expect(second.keys[0]).toBe('order-1~b~run');
  });

  it('picks up a Pending saga when a command hydrates it (cancel), then rolls back', async () => {
    const store = new JsonStore();
    const { sagaId, first } = await dieAt(store, 'c.run');
    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });

    await engineB.cancel(sagaId);
    const view = await engineB.waitFor(sagaId);

    expect(first.calls).toEqual(['a.run', 'b.run', 'c.run']);
    expect(second.calls).toEqual(['c.run', 'c.compensate', 'b.compensate', 'a.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.failure).toEqual({ reason: 'cancelled' });
  });

  it('continues a saga whose first step job was lost before it ran', async () => {
    const store = new JsonStore();
    const first = processHandlers();
    // Engine A's queue never runs a job: the process died with its queue.
    const engineA = engineOn(store, first.handlers, {
      queue: new InProcessQueue({ runAttempt: () => new Promise(() => {}) }),
    });
    await engineA.start(saga, { orderId: 'o2' }, { sagaId: 'order-2' });
    await engineA.close();

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    await engineB.recover();
    const view = await engineB.waitFor('order-2');
    expect(first.calls).toEqual([]);
    expect(second.calls).toEqual(['a.run', 'b.run', 'c.run', 'd.run']);
    expect(view.state).toBe('Completed');
  });

  it('continues a Compensating saga without re-running finished compensations', async () => {
    const store = new JsonStore();
    const { sagaId, first } = await dieAt(store, 'b.compensate', (p) => p.failAt.add('d'));
    expect(first.calls).toEqual(['a.run', 'b.run', 'c.run', 'd.run', 'c.compensate', 'b.compensate']);
    expect((await store.load(sagaId))?.state).toBe('Compensating');

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    await engineB.recover();
    const view = await engineB.waitFor(sagaId);

    expect(second.calls).toEqual(['b.compensate', 'a.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.compensated).toEqual(['c', 'b', 'a']);
    expect(view.failure?.step).toBe('d');
  });

  it('resumes an Escalated saga stored by another engine', async () => {
    const store = new JsonStore();
    const first = processHandlers();
    first.failAt.add('c');
    first.failUndo.add('b');
    const engineA = engineOn(store, first.handlers);
    const { sagaId } = await engineA.start(saga, { orderId: 'o3' });
    expect((await engineA.waitFor(sagaId)).state).toBe('Escalated');
    await engineA.close();

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    expect(await engineB.recover()).toBe(0);
    await engineB.resume(sagaId);
    const view = await engineB.waitFor(sagaId);

    expect(second.calls).toEqual(['b.compensate', 'a.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.compensated).toEqual(['b', 'a']);
  });

  it('refuses to hydrate a saga whose definition it was not given, naming the fix', async () => {
    const store = new JsonStore();
    const { sagaId } = await dieAt(store, 'b.run');
    const engineB = engineOn(store, processHandlers().handlers);

    expect(await engineB.recover()).toBe(0);
    const error = await caught(engineB.cancel(sagaId));
    // Not SNAPSHOT_CORRUPT: the data is fine, this engine just was not given the definition.
    expect(error.code).toBe('DEFINITION_UNKNOWN');
    expect(error.message).toContain('"restorable" version 1');
    expect(error.message).toContain('createEngine({ sagas })');
    expect((await store.load(sagaId))?.state).toBe('Pending');
  });

  it('leaves settled sagas alone on recover', async () => {
    const store = new JsonStore();
    const first = processHandlers();
    const engineA = engineOn(store, first.handlers);
    const { sagaId } = await engineA.start(saga, { orderId: 'o4' });
    await engineA.waitFor(sagaId);
    await engineA.close();

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    expect(await engineB.recover()).toBe(0);
    expect(second.calls).toEqual([]);
    expect((await engineB.get(sagaId)).revision).toBe(6);
  });

  it('starts a saga left in Started by an engine that died before dispatching (recover)', async () => {
    class SaveFailsOnce extends JsonStore {
      failNext = true;
      override async save(update: SagaUpdate, entry: TransitionEntry): Promise<number> {
        if (this.failNext) {
          this.failNext = false;
          throw new Error('connection lost');
        }
        return super.save(update, entry);
      }
    }
    const store = new SaveFailsOnce();
    const first = processHandlers();
    const engineA = engineOn(store, first.handlers);
    await expect(engineA.start(saga, { orderId: 'o5' }, { sagaId: 'order-5' })).rejects.toThrow('connection lost');
    await engineA.close();
    expect((await store.load('order-5'))?.state).toBe('Started');

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    const recovered = await engineB.recover();
    const view = await engineB.waitFor('order-5');
    expect(first.calls).toEqual([]);
    expect(second.calls).toEqual(['a.run', 'b.run', 'c.run', 'd.run']);
    expect(view.state).toBe('Completed');
    // One saga was re-attached; it must not be counted again when it shows up as Pending.
    expect(recovered).toBe(1);
  });
});

describe('stored snapshots: value and context only, older records still load', () => {
  it('stores the state value and the context, not XState persisted snapshot', async () => {
    const store = new JsonStore();
    const { sagaId } = await dieAt(store, 'c.run');
    const stored = (await store.load(sagaId))?.snapshot as { v: unknown; c: Record<string, unknown> };
    expect(Object.keys(stored)).toEqual(['v', 'c']);
    expect(stored.v).toEqual({ Pending: 'c' });
    expect(stored.c).not.toHaveProperty('sagaId');
  });

  it('continues a record holding XState persisted snapshot, as versions before the compact one wrote it', async () => {
    const store = new JsonStore();
    const { sagaId, first } = await dieAt(store, 'c.run');
    const record = (await store.load(sagaId)) as SagaRecord;
    const data = readStoredSnapshot(sagaId, record.snapshot);
    if (!data) throw new Error('unreadable snapshot');
    // What `actor.getPersistedSnapshot()` stored: the running step job is a child, with its input.
    const legacy = {
      status: 'active',
      value: { Pending: 'c' },
      historyValue: {},
      context: data.context,
      children: {
        '0.restorable.Pending.c': {
          snapshot: { status: 'active', input: { sagaId, step: 'c', direction: 'run', round: 0 } },
          src: 'stepJob',
          syncSnapshot: false,
        },
      },
    };
    expect(data.context.sagaId).toBe(sagaId);
    const update = { sagaId, expectedRevision: record.revision, state: record.state, updatedAt: record.updatedAt };
    await store.save(
      { ...update, snapshot: legacy },
      { sagaId, at: 0, from: 'Pending.c', to: 'Pending.c', event: 'test' },
    );

    const second = processHandlers();
    const engineB = engineOn(store, second.handlers, { sagas: [saga] });
    expect(await engineB.recover()).toBe(1);
    const view = await engineB.waitFor(sagaId);

    expect(first.calls).toEqual(['a.run', 'b.run', 'c.run']);
    expect(second.calls).toEqual(['c.run', 'd.run']);
    expect(view.steps.map((s) => s.result)).toEqual(['a@o1', 'b@o1', 'c@o1', 'd@o1']);
    // Written in the compact shape from its next transition on.
    expect(Object.keys((await store.load(sagaId))?.snapshot as object)).toEqual(['v', 'c']);
  });
});

describe('evicting idle sagas from memory', () => {
  it('keeps the most recently used maxActiveSagas hydrated, and restores the others from the store', async () => {
    const p = processHandlers();
    p.hangOn.add('a.run');
    const loads: string[] = [];
    const store = new (class extends JsonStore {
      override async load(sagaId: string): Promise<SagaRecord | undefined> {
        loads.push(sagaId);
        return super.load(sagaId);
      }
    })();
    const engine = engineOn(store, p.handlers, { maxActiveSagas: 2 });
    for (const id of ['e1', 'e2', 'e3']) await engine.start(saga, { orderId: id }, { sagaId: id });
    const hydrating = (id: string) => engine.cancel(id).then(() => loads.filter((loaded) => loaded === id).length);

    // e1 was the least recently used when e3 came: it alone was evicted.
    expect(await hydrating('e3')).toBe(0);
    expect(await hydrating('e1')).toBe(1);
    // Restoring e1 made e2 the least recently used.
    expect(await hydrating('e2')).toBe(1);
  });

  it('rehydrates an evicted saga from the store on its next outcome, running every step once', async () => {
    const p = processHandlers();
    const clock = new TestClock();
    const engine = engineOn(new JsonStore(), p.handlers, { maxActiveSagas: 1, clock });
    await Promise.all(['e1', 'e2', 'e3'].map((id) => engine.start(saga, { orderId: id }, { sagaId: id })));
    await clock.runAll();
    const views = await Promise.all(['e1', 'e2', 'e3'].map((id) => engine.get(id)));

    expect(views.map((v) => v.state)).toEqual(['Completed', 'Completed', 'Completed']);
    for (const name of NAMES) expect(count(p.calls, `${name}.run`)).toBe(3);
    // No transition was logged that changed nothing (an event applied to an evicted, stopped actor).
    for (const view of views) expect(view.history.filter((e) => e.from === e.to)).toEqual([]);
  });
});
