/**
 * The agent-invoice saga: the tools an agent may call and the approval it may wait for, with the
 * fake participants behind them (a CRM, a billing provider, Slack), all in memory. The saga has no
 * fixed steps: the agent appends them one by one (see planner.ts and main.ts), and the engine holds
 * each tool to its kind, records its compensation before it runs, and keys it by saga and position.
 */
import { z } from 'zod';
import { defineDynamicSaga, type VerifyAnswer } from '../../src/index.ts';

/** A CRM whose contacts an upsert adds and its compensation removes. */
export class Crm {
  readonly contacts = new Map<string, { contactId: string; name: string }>();

  upsert(email: string, name: string): { contactId: string } {
    const contact = this.contacts.get(email) ?? { contactId: `C-${this.contacts.size + 1}`, name };
    this.contacts.set(email, contact);
    return { contactId: contact.contactId };
  }

  remove(email: string): void {
    this.contacts.delete(email);
  }
}

/**
 * A billing provider that dedupes creates by idempotency key. With `slowOnce` set, the next create
 * stores the invoice and then answers too late (after the attempt's timeout): the write happened,
 * the caller cannot know it.
 */
export class SlowBilling {
  readonly invoices = new Map<string, { invoiceId: string; amount: number }>();
  /** Every create call, by idempotency key: a second call with one key would be a repeated write. */
  readonly creates: string[] = [];
  slowOnce = false;

  async create(key: string, amount: number, signal: AbortSignal): Promise<{ invoiceId: string }> {
    this.creates.push(key);
    const invoice = this.invoices.get(key) ?? { invoiceId: `INV-${this.invoices.size + 1}`, amount };
    this.invoices.set(key, invoice);
    if (this.slowOnce) {
      this.slowOnce = false;
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }
    return { invoiceId: invoice.invoiceId };
  }

  /** Reads an invoice back by the key it was created with: what `verify` asks after a timeout. */
  find(key: string): VerifyAnswer {
    const invoice = this.invoices.get(key);
    return invoice ? { done: true, result: { invoiceId: invoice.invoiceId } } : { done: false };
  }
}

/** A chat channel: a post cannot be taken back, so it is the last step. */
export class Slack {
  readonly posts: string[] = [];

  post(channel: string, text: string): { ts: number } {
    this.posts.push(`${channel}: ${text}`);
    return { ts: this.posts.length };
  }
}

export const crm = new Crm();
export const billing = new SlowBilling();
export const slack = new Slack();

/** What a person answers when asked to approve the invoice. */
export const approvalSchema = z.object({ approved: z.boolean(), by: z.string() });
export type Approval = z.infer<typeof approvalSchema>;

export const agentInvoice = defineDynamicSaga({
  name: 'agent-invoice',
  version: 1,
  input: z.object({ customer: z.string(), email: z.string().email(), amount: z.number().positive() }),
  // An agent that appends nothing for this long is taken to be gone: what it did is rolled back.
  idleTimeoutMs: 10 * 60_000,
  waits: {
    // A person has three days; no answer rolls back like a "no" (onTimeout defaults to 'compensate').
    approval: { signal: approvalSchema, timeoutMs: 3 * 24 * 3_600_000, reject: (answer: Approval) => !answer.approved },
  },
  tools: {
    crmUpsert: {
      args: z.object({ email: z.string().email(), name: z.string() }),
      run: (ctx) => crm.upsert(ctx.args.email, ctx.args.name),
      // Compensable (the default kind): on rollback the contact is removed again.
      compensate: (ctx) => crm.remove(ctx.args.email),
    },
    createInvoice: {
      // The pivot: once invoiced, the saga only goes forward.
      kind: 'pivot',
      args: z.object({ contactId: z.string(), amount: z.number().positive() }),
      timeoutMs: 200,
      retry: { attempts: 3 },
      run: (ctx) => billing.create(ctx.idempotencyKey, ctx.args.amount, ctx.signal),
      // After an attempt in doubt (it timed out), the next one reads billing back by the same key
      // first: an invoice found there completes the step, so it is never created twice.
      verify: (ctx) => billing.find(ctx.idempotencyKey),
    },
    postToSlack: {
      kind: 'noncompensable',
      args: z.object({ channel: z.string(), text: z.string() }),
      run: (ctx) => slack.post(ctx.args.channel, ctx.args.text),
    },
  },
});

/** How many create calls billing saw for a saga (its idempotency keys start with the saga id). */
export function createCalls(sagaId: string): number {
  return billing.creates.filter((key) => key.startsWith(`${sagaId}~`)).length;
}
