/**
 * A timed-out write, verified instead of repeated. An agent's saga upserts a CRM contact, creates an
 * invoice at a billing provider (the pivot: once invoiced, the saga only goes forward) and mails the
 * customer. The billing API is slow on purpose: it stores the invoice, then answers after the
 * attempt's timeout. The invoice step has a `verify` that reads the provider back by the
 * idempotency key, so xsaga finds the invoice instead of creating a second one.
 *
 * The same saga then runs with a billing step that has no `verify`, against a provider that stays
 * slow for every attempt. The invoice step is the pivot, and a pivot in doubt is never guessed at:
 * the saga escalates for a person, who checks the provider and resumes it; the provider dedupes by
 * the idempotency key, so the resumed call returns the invoice it already made.
 *
 *   npx tsx examples/verified-write/main.ts
 */
import { z } from 'zod';
import { createEngine, defineHandlers, defineSaga, type StepContext, type VerifyAnswer } from '../../src/index.ts';

/** A billing provider whose create call stores the invoice, then answers too late, `slowCalls` times. */
class SlowBilling {
  readonly invoices = new Map<string, { invoiceId: string; amount: number }>();
  readonly creates: string[] = [];
  slowCalls = 1;

  async create(key: string, amount: number, signal: AbortSignal): Promise<{ invoiceId: string }> {
    this.creates.push(key);
    const invoice = this.invoices.get(key) ?? { invoiceId: `INV-${this.invoices.size + 1}`, amount };
    this.invoices.set(key, invoice);
    if (this.creates.filter((k) => k === key).length <= this.slowCalls) {
      // The write happened; the answer never arrives in time.
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }
    return { invoiceId: invoice.invoiceId };
  }

  /** Reads an invoice back by the key it was created with. */
  find(key: string): VerifyAnswer {
    const invoice = this.invoices.get(key);
    return invoice ? { done: true, result: { invoiceId: invoice.invoiceId } } : { done: false };
  }
}

const agentInvoice = defineSaga({
  name: 'agent-invoice',
  version: 1,
  input: z.object({ customer: z.string(), amount: z.number().positive() }),
  steps: [
    { name: 'upsertContact' }, // compensable: the contact is removed again on rollback
    { name: 'createInvoice', kind: 'pivot', timeoutMs: 200, retry: { attempts: 3 } },
    { name: 'mailCustomer', kind: 'noncompensable' },
  ],
});

const billing = new SlowBilling();
const crm = new Map<string, string>();
const mails: string[] = [];

function handlers(withVerify: boolean) {
  return defineHandlers(agentInvoice, {
    upsertContact: {
      run: async (ctx) => {
        crm.set(ctx.input.customer, ctx.idempotencyKey);
        return { contact: ctx.input.customer };
      },
      compensate: async (ctx) => {
        crm.delete(ctx.input.customer);
      },
    },
    createInvoice: {
      run: async (ctx) => billing.create(ctx.idempotencyKey, ctx.input.amount, ctx.signal),
      ...(withVerify ? { verify: (ctx: StepContext) => billing.find(ctx.idempotencyKey) } : {}),
    },
    mailCustomer: {
      run: async (ctx) => {
        mails.push(`${ctx.input.customer}: invoice ${(ctx.results.createInvoice as { invoiceId: string }).invoiceId}`);
      },
    },
  });
}

let ok = true;
const check = (what: string, holds: boolean) => {
  console.log(`  ${holds ? 'ok  ' : 'FAIL'} ${what}`);
  ok &&= holds;
};

console.log('== with verify: the invoice call times out after taking effect');
const verified = createEngine({ handlers: { [agentInvoice.name]: handlers(true) } });
const first = await verified.start(agentInvoice, { customer: 'ada', amount: 120 });
const done = await verified.waitFor(first.sagaId, { timeoutMs: 10_000 });
const invoice = done.steps.find((s) => s.name === 'createInvoice');
console.log(`final state: ${done.state}; createInvoice ${invoice?.status} after ${invoice?.attempts} attempts`);
console.log(`  verified: ${invoice?.verified === true}; create calls: ${billing.creates.length}`);
check('completed', done.state === 'Completed');
check('one create call, one invoice: verify found it, no second write', billing.creates.length === 1);
check('nothing compensated', done.compensated.length === 0 && crm.has('ada'));
await verified.close();

console.log('\n== without verify: a pivot in doubt escalates; a person checks billing and resumes');
const guessing = createEngine({ handlers: { [agentInvoice.name]: handlers(false) } });
billing.slowCalls = 3; // every attempt of this one is slow: the answer never arrives in time
const second = await guessing.start(agentInvoice, { customer: 'bob', amount: 80 });
const stuck = await guessing.waitFor(second.sagaId, { timeoutMs: 10_000 });
console.log(`state: ${stuck.state}; escalation: ${JSON.stringify(stuck.escalation)}`);
check('escalated in doubt, nothing compensated', stuck.state === 'Escalated' && stuck.escalation?.inDoubt === true);
await guessing.resume(second.sagaId); // the provider dedupes by key and now answers at once
const resumed = await guessing.waitFor(second.sagaId, { timeoutMs: 10_000 });
console.log(`after resume: ${resumed.state}`);
check('resume completes it with the same invoice', resumed.state === 'Completed' && billing.invoices.size === 2);
await guessing.close();

console.log(`\nmails: ${mails.join('; ')}`);
if (!ok) process.exit(1);
