import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineDynamicSaga, defineSaga, TerminalError } from '../../src/index.ts';
import { createTestClock, type TestClock } from '../../src/testing/index.ts';
import { BACKENDS, type Backend, engineFixture, statuses } from '../support/backends.ts';
import { caught } from '../support/caught.ts';
import { type Gate, gate } from '../support/deferred.ts';

/** What the tools were called with, and what the test makes them do. */
interface Participants {
  calls: string[];
  keys: string[];
  contacts: Map<string, string>;
  refuse: Set<string>;
  hold?: Gate;
}

function agentSaga(p: Participants) {
  const record = (call: string, key: string) => {
    p.calls.push(call);
    p.keys.push(key);
  };
  return defineDynamicSaga({
    name: 'agent',
    version: 1,
    input: z.object({ customer: z.string() }),
    idleTimeoutMs: 60_000,
    waits: {
      approval: {
        signal: z.object({ approved: z.boolean() }),
        timeoutMs: 3_600_000,
        reject: (payload: { approved: boolean }) => !payload.approved,
      },
    },
    tools: {
      crmUpsert: {
        args: z.object({ email: z.string().email() }),
        retry: { attempts: 1 },
        run: async (ctx) => {
          record(`crmUpsert.run ${ctx.args.email}`, ctx.idempotencyKey);
          if (p.hold) {
            p.hold.started.resolve();
            await p.hold.release.promise;
          }
          if (p.refuse.has('crmUpsert')) throw new TerminalError('CRM refused');
          p.contacts.set(ctx.idempotencyKey, ctx.args.email);
          return { contactId: `c-${ctx.args.email}` };
        },
        compensate: async (ctx) => {
          record(`crmUpsert.compensate ${ctx.args.email}`, ctx.idempotencyKey);
          p.contacts.delete(ctx.runIdempotencyKey);
        },
      },
      lookup: {
        kind: 'query',
        args: z.object({ q: z.string() }),
        run: (ctx) => {
          record(`lookup.run ${ctx.args.q}`, ctx.idempotencyKey);
          return { hits: 1 };
        },
      },
      createInvoice: {
        kind: 'pivot',
        args: z.object({ amount: z.number().positive() }),
        retry: { attempts: 1 },
        run: (ctx) => {
          record(`createInvoice.run ${ctx.args.amount}`, ctx.idempotencyKey);
          if (p.refuse.has('createInvoice')) throw new TerminalError('billing refused');
          return { invoiceId: 'inv-1', contact: ctx.results['crmUpsert-1'] };
        },
      },
      notify: { kind: 'retryable', args: z.object({}), run: () => 'sent' },
      postToSlack: {
        kind: 'noncompensable',
        args: z.object({ text: z.string() }),
        run: (ctx) => {
          record(`postToSlack.run ${ctx.args.text}`, ctx.idempotencyKey);
          return 'posted';
        },
      },
    },
  });
}

const engines = engineFixture();

/** Polls (real time, a few ms apart) until `ready` holds. */
async function until(ready: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('never ready');
}

function harness(backend: Backend, clock?: TestClock) {
  const p: Participants = { calls: [], keys: [], contacts: new Map(), refuse: new Set() };
  const agent = agentSaga(p);
  const engine = engines.open(backend, { ...(clock ? { clock } : {}), handlers: { [agent.name]: agent.handlers } });
  return { engine, agent, p };
}

describe.each(BACKENDS)('dynamic sagas (%s)', (backend) => {
  it('runs each appended step, resolves with its result, and completes when the agent says so', async () => {
    const { engine, agent, p } = harness(backend);
    const { sagaId } = await engine.start(agent, { customer: 'acme' });

    const contact = await engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });
    expect(contact).toEqual({
      step: 'crmUpsert-1',
      status: 'completed',
      state: 'Pending',
      result: { contactId: 'c-a@acme.test' },
    });
    const invoice = await engine.appendStep(sagaId, { tool: 'createInvoice', args: { amount: 120 } });
    expect(invoice.result).toEqual({ invoiceId: 'inv-1', contact: { contactId: 'c-a@acme.test' } });
    await engine.appendStep(sagaId, { tool: 'postToSlack', args: { text: 'invoice sent' } });
    await engine.complete(sagaId);

    const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
    expect(view.state).toBe('Completed');
    expect(view.steps.map((s) => [s.name, s.tool, s.status])).toEqual([
      ['crmUpsert-1', 'crmUpsert', 'completed'],
      ['createInvoice-2', 'createInvoice', 'completed'],
      ['postToSlack-3', 'postToSlack', 'completed'],
    ]);
    expect(view.steps[0]?.args).toEqual({ email: 'a@acme.test' });
    // Structural keys: saga, step index, tool, direction; nothing from the agent's arguments.
    expect(p.keys).toEqual([
      `${sagaId}~crmUpsert-1~run`,
      `${sagaId}~createInvoice-2~run`,
      `${sagaId}~postToSlack-3~run`,
    ]);
  });

  it('refuses bad arguments with INPUT_INVALID naming the field, and an unknown tool, storing nothing', async () => {
    const { engine, agent, p } = harness(backend);
    const { sagaId } = await engine.start(agent, { customer: 'acme' });
    const before = await engine.get(sagaId);

    const bad = await caught(engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'not-an-email' } }));
    expect(bad.code).toBe('INPUT_INVALID');
    expect((bad as unknown as { path: string }).path).toBe('email');
    expect(bad.message).toMatch(/args of tool "crmUpsert" for saga ".*" is invalid: .*email/);
    const unknown = await caught(engine.appendStep(sagaId, { tool: 'deleteEverything', args: {} }));
    expect(unknown.code).toBe('INPUT_INVALID');
    expect(unknown.message).toMatch(/not a tool of saga "agent"; its tools are "crmUpsert", "lookup"/);
    const unstorable = await caught(engine.appendStep(sagaId, { tool: 'lookup', args: { q: 1n } }));
    expect(unstorable.code).toBe('INPUT_INVALID');

    expect((await engine.get(sagaId)).revision).toBe(before.revision);
    expect(p.calls).toEqual([]);
  });

  it('refuses a compensable tool after the pivot, and any step after a noncompensable one', async () => {
    const { engine, agent } = harness(backend);
    const { sagaId } = await engine.start(agent, { customer: 'acme' });
    await engine.appendStep(sagaId, { tool: 'createInvoice', args: { amount: 5 } });

    const late = await caught(engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } }));
    expect(late.code).toBe('INVALID_STATE');
    expect(late.message).toMatch(/a compensable step cannot come after the pivot/);
    const retryable = await engine.appendStep(sagaId, { tool: 'notify', args: {} });
    expect(retryable.status).toBe('completed');
    await engine.appendStep(sagaId, { tool: 'postToSlack', args: { text: 'done' } });
    const after = await caught(engine.appendStep(sagaId, { tool: 'lookup', args: { q: 'x' } }));
    expect(after.message).toMatch(/a noncompensable step was appended, which must be the last: complete the saga/);
    await engine.complete(sagaId);
  });

  it('rolls back everything appended, newest first, on cancel', async () => {
    const { engine, agent, p } = harness(backend);
    const { sagaId } = await engine.start(agent, { customer: 'acme' });
    await engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });
    await engine.appendStep(sagaId, { tool: 'lookup', args: { q: 'dup' } });
    await engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'b@acme.test' } });

    await engine.cancel(sagaId);
    const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
    expect(view.state).toBe('Failed');
    expect(view.failure).toEqual({ reason: 'cancelled' });
    expect(view.compensated).toEqual(['crmUpsert-3', 'crmUpsert-1']);
    expect(view.skipped).toEqual(['lookup-2']);
    expect(p.calls.slice(-2)).toEqual(['crmUpsert.compensate b@acme.test', 'crmUpsert.compensate a@acme.test']);
    expect(p.contacts.size).toBe(0);
  });

  it('resolves a failed step with its error once the saga has rolled back', async () => {
    const { engine, agent, p } = harness(backend);
    const { sagaId } = await engine.start(agent, { customer: 'acme' });
    await engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });
    p.refuse.add('createInvoice');

    const failed = await engine.appendStep(sagaId, { tool: 'createInvoice', args: { amount: 5 } });
    expect(failed).toMatchObject({ step: 'createInvoice-2', status: 'failed', state: 'Failed' });
    expect(failed.error).toMatchObject({ message: 'billing refused', terminal: true });
    expect(statuses(await engine.get(sagaId))).toEqual({ 'crmUpsert-1': 'compensated', 'createInvoice-2': 'failed' });
  });

  it('refuses a second step while one runs, and complete too', async () => {
    const { engine, agent, p } = harness(backend);
    p.hold = engines.track(gate());
    const { sagaId } = await engine.start(agent, { customer: 'acme' });
    const first = engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });
    await p.hold.started.promise;

    const second = await caught(engine.appendStep(sagaId, { tool: 'lookup', args: { q: 'x' } }));
    expect(second.message).toMatch(/step "crmUpsert-1" is still running; wait for its appendStep to resolve/);
    const complete = await caught(engine.complete(sagaId));
    expect(complete.code).toBe('INVALID_STATE');
    p.hold.release.resolve();
    expect((await first).status).toBe('completed');
  });

  it('rolls back when the agent goes silent for idleTimeoutMs', async () => {
    const clock = createTestClock(Date.now());
    const { engine, agent, p } = harness(backend, clock);
    const { sagaId } = await engine.start(agent, { customer: 'acme' });
    await engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });

    await clock.advance(59_000);
    expect((await engine.get(sagaId)).state).toBe('Pending');
    let view = await engine.get(sagaId);
    for (let i = 0; i < 200 && view.state === 'Pending'; i++) {
      await clock.advance(1_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
      view = await engine.get(sagaId);
    }
    view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
    expect(view.state).toBe('Failed');
    expect(view.failure?.error?.code).toBe('SAGA_IDLE');
    expect(p.calls).toEqual(['crmUpsert.run a@acme.test', 'crmUpsert.compensate a@acme.test']);
  });

  describe('waits', () => {
    it('parks at an appended wait; the signal resolves appendStep with its payload and the agent goes on', async () => {
      const { engine, agent } = harness(backend);
      const { sagaId } = await engine.start(agent, { customer: 'acme' });
      await engine.appendStep(sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });

      const approval = engine.appendStep(sagaId, { wait: 'approval' });
      await until(async () => statuses(await engine.get(sagaId))['approval-2'] === 'waiting');
      const early = await caught(engine.appendStep(sagaId, { tool: 'lookup', args: { q: 'x' } }));
      expect(early.code).toBe('INVALID_STATE');
      await engine.signal(sagaId, 'approval', { approved: true }, { signalId: 'mail-1' });
      expect(await approval).toEqual({
        step: 'approval-2',
        status: 'completed',
        state: 'Pending',
        result: { approved: true },
      });
      const again = await engine.signal(sagaId, 'approval', { approved: true }, { signalId: 'mail-1' });
      expect(again.duplicate).toBe(true);
      await engine.appendStep(sagaId, { tool: 'createInvoice', args: { amount: 5 } });
      await engine.complete(sagaId);
      expect((await engine.waitFor(sagaId, { timeoutMs: 10_000 })).state).toBe('Completed');
    });

    it('rolls back on a rejection before the pivot, and escalates one after it', async () => {
      const { engine, agent, p } = harness(backend);
      const before = await engine.start(agent, { customer: 'acme' });
      await engine.appendStep(before.sagaId, { tool: 'crmUpsert', args: { email: 'a@acme.test' } });
      const rejected = engine.appendStep(before.sagaId, { wait: 'approval' });
      await until(async () => statuses(await engine.get(before.sagaId))['approval-2'] === 'waiting');
      await engine.signal(before.sagaId, 'approval', { approved: false });
      expect(await rejected).toMatchObject({ status: 'failed', state: 'Failed', error: { code: 'SIGNAL_REJECTED' } });
      expect(p.contacts.size).toBe(0);

      const after = await engine.start(agent, { customer: 'acme' });
      await engine.appendStep(after.sagaId, { tool: 'createInvoice', args: { amount: 5 } });
      const late = engine.appendStep(after.sagaId, { wait: 'approval' });
      await until(async () => statuses(await engine.get(after.sagaId))['approval-2'] === 'waiting');
      await engine.signal(after.sagaId, 'approval', { approved: false });
      expect(await late).toMatchObject({ status: 'failed', state: 'Escalated' });
      const view = await engine.get(after.sagaId);
      expect(view.escalation).toMatchObject({ direction: 'run', step: 'approval-2', uncompensated: [] });
    });

    it('refuses a tool given as a wait and a wait given as a tool', async () => {
      const { engine, agent } = harness(backend);
      const { sagaId } = await engine.start(agent, { customer: 'acme' });
      const asTool = await caught(engine.appendStep(sagaId, { tool: 'approval', args: {} }));
      expect(asTool.message).toMatch(/tool "approval" is not a tool of saga "agent"/);
      const asWait = await caught(engine.appendStep(sagaId, { wait: 'lookup' }));
      expect(asWait.message).toMatch(/wait "lookup" is not a wait of saga "agent"; its waits are "approval"/);
      await engine.cancel(sagaId);
    });
  });

  it('refuses appendStep and complete on a saga with defined steps', async () => {
    const { engine } = harness(backend);
    const fixed = defineSaga({
      name: 'fixed',
      version: 1,
      input: z.object({}),
      steps: [{ wait: 'go', signal: z.object({}) }],
    });
    const { sagaId } = await engine.start(fixed, {});
    const error = await caught(engine.appendStep(sagaId, { tool: 'crmUpsert', args: {} }));
    expect(error.code).toBe('INVALID_STATE');
    expect(error.message).toMatch(/has defined steps: appendStep is for sagas made by defineDynamicSaga/);
    await engine.cancel(sagaId);
  });
});

describe('defineDynamicSaga', () => {
  const base = { name: 'd', version: 1, input: z.object({}), idleTimeoutMs: 1_000 };
  const define =
    (tools: unknown, extra: object = {}) =>
    () =>
      defineDynamicSaga({ ...base, ...extra, tools: tools as never });

  it('names what is wrong with a tool', () => {
    expect(define({ upsert: { args: z.object({}), run: () => 1 } })).toThrow(
      /tools\.upsert\.compensate.*a compensable tool needs compensate/,
    );
    expect(define({ post: { kind: 'noncompensable', args: z.object({}), run: () => 1, compensate: () => 1 } })).toThrow(
      /tools\.post\.compensate.*never compensated/,
    );
    expect(define({ 'bad name': { kind: 'query', args: z.object({}), run: () => 1 } })).toThrow(/tool name "bad name"/);
    expect(define({ q: { kind: 'query', args: 'x', run: () => 1 } })).toThrow(/tools\.q\.args.*must be a zod schema/);
    expect(define({})).toThrow(/at least one tool/);
    expect(define({ q: { kind: 'query', args: z.object({}), run: () => 1 } }, { idleTimeoutMs: 0 })).toThrow(
      /idleTimeoutMs/,
    );
  });

  it('gives each tool the policies of a step of its kind', () => {
    const saga = defineDynamicSaga({
      ...base,
      tools: {
        upsert: { args: z.object({}), run: () => 1, compensate: () => undefined, retry: { attempts: 7 } },
        charge: { kind: 'pivot', args: z.object({}), run: () => 1 },
      },
    });
    expect(saga.dynamic?.tools.upsert).toMatchObject({
      kind: 'compensable',
      inDoubt: 'compensate',
      run: { attempts: 7 },
    });
    expect(saga.dynamic?.tools.charge).toMatchObject({ kind: 'pivot', inDoubt: 'escalate', compensation: undefined });
    expect(Object.keys(saga.handlers)).toEqual(['upsert', 'charge']);
    expect(saga.steps).toEqual([]);
  });
});
