/**
 * An agent invoices a customer through a dynamic saga: it upserts the CRM contact, waits for a
 * person to approve, creates the invoice and posts to Slack, appending each step as its (fake,
 * deterministic) planner decides. Three runs: approved and completed; rejected and rolled back (the
 * contact is removed); and one whose invoice call times out after billing stored it, where `verify`
 * finds the invoice instead of creating a second one.
 *
 * Why the approval comes before the invoice: the invoice is the pivot. Before it, a "no" rolls
 * back everything the agent did; after it nothing can be rolled back, so a rejection could only
 * escalate to a person who must undo the invoice by hand. Ask while the answer can still matter.
 *
 *   npx tsx examples/agent-invoice/main.ts           # embedded default: no server
 *   npx tsx examples/agent-invoice/main.ts --redis   # Redis at REDIS_URL (default 127.0.0.1:6379) + BullMQ
 *
 * Redis is chosen by the flag, not by REDIS_URL alone: CI exports REDIS_URL for every run.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createEngine, createWorker, type SagaView } from '../../src/index.ts';
import { type Action, type Done, type Goal, nextAction } from './planner.ts';
import { type Approval, agentInvoice, billing, createCalls, crm, slack } from './saga.ts';

const onRedis = process.argv.includes('--redis');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// A prefix of our own, so the run never touches anyone's sagas and can delete exactly its keys.
const prefix = `xsaga-agent-invoice-${randomUUID().slice(0, 8)}`;
const handlers = { [agentInvoice.name]: agentInvoice.handlers };

// On Redis the engine starts sagas and takes the agent's commands; the steps are BullMQ jobs that a
// worker runs, here in this process (it could be any other). Embedded, the engine runs them itself.
const engine = onRedis
  ? createEngine({ redis: { connection: redisUrl, prefix }, sagas: [agentInvoice] })
  : createEngine({ handlers });
const worker = onRedis ? createWorker({ connection: redisUrl, prefix, handlers, sagas: [agentInvoice] }) : undefined;

const show = (action: Exclude<Action, 'complete'>) =>
  'wait' in action ? `wait ${action.wait}` : `${action.tool} ${JSON.stringify(action.args)}`;

/**
 * The agent: asks the planner for the next action, appends it as a step, and feeds the outcome
 * back. `appendStep` resolves once the step has ended, so the planner always sees real results.
 */
async function runAgent(sagaId: string, goal: Goal): Promise<void> {
  const history: Done[] = [];
  for (;;) {
    const action = nextAction(goal, history);
    if (action === 'complete') {
      await engine.complete(sagaId);
      console.log('  agent: complete');
      return;
    }
    const outcome = await engine.appendStep(sagaId, action);
    console.log(`  agent: ${show(action)} -> ${outcome.step} ${outcome.status}`);
    history.push({ action, status: outcome.status, result: outcome.result });
    // A failed step (or a rejection) has already rolled the saga back: nothing is left to plan.
    if (outcome.status !== 'completed') return;
  }
}

/**
 * The person: answers once the saga is parked at the approval. Signals are not buffered, so the
 * answer goes only to a saga that waits for it; the signal id makes a resent mail harmless.
 */
async function approve(sagaId: string, answer: Approval): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const view = await engine.get(sagaId);
    if (view.steps.some((s) => s.tool === 'approval' && s.status === 'waiting')) break;
    if (Date.now() > until) throw new Error(`saga ${sagaId} never waited for approval (${view.state})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  console.log(`  human: ${answer.approved ? 'approves' : 'rejects'} (${answer.by})`);
  await engine.signal(sagaId, 'approval', answer, { signalId: `mail-${sagaId}` });
}

async function scenario(title: string, goal: Goal, answer: Approval): Promise<{ view: SagaView; sagaId: string }> {
  console.log(`\n== ${title}`);
  const { sagaId } = await engine.start(agentInvoice, goal);
  await Promise.all([runAgent(sagaId, goal), approve(sagaId, answer)]);
  const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
  const invoice = view.steps.find((s) => s.tool === 'createInvoice');
  console.log(`final state: ${view.state}`);
  console.log(`  steps: ${view.steps.map((s) => `${s.name}=${s.status}`).join(' ')}`);
  console.log(`  compensated: ${view.compensated.join(', ') || 'none'}`);
  console.log(
    `  create calls: ${createCalls(sagaId)}; verified: ${invoice?.verified === true}` +
      (invoice ? `; createInvoice attempts: ${invoice.attempts}` : ''),
  );
  return { view, sagaId };
}

let ok = true;
const check = (what: string, holds: boolean) => {
  console.log(`  ${holds ? 'ok  ' : 'FAIL'} ${what}`);
  ok &&= holds;
};

console.log(onRedis ? `on Redis ${redisUrl}, prefix ${prefix}` : 'embedded: memory store, in-process queue');
try {
  const ada = await scenario(
    '1. approved: contact, approval, invoice, Slack',
    { customer: 'Ada', email: 'ada@example.com', amount: 120 },
    { approved: true, by: 'finance@example.com' },
  );
  check('completed with one invoice, not compensated', ada.view.state === 'Completed' && createCalls(ada.sagaId) === 1);
  check('the contact stays in the CRM', crm.contacts.has('ada@example.com'));

  const bob = await scenario(
    '2. rejected: the approval says no before the pivot',
    { customer: 'Bob', email: 'bob@example.com', amount: 80 },
    { approved: false, by: 'finance@example.com' },
  );
  check('rolled back: failed with SIGNAL_REJECTED', bob.view.failure?.error?.code === 'SIGNAL_REJECTED');
  check(
    'the contact was removed and no invoice made',
    !crm.contacts.has('bob@example.com') && !createCalls(bob.sagaId),
  );

  billing.slowOnce = true; // billing stores the next invoice, then answers after the 200 ms timeout
  const cyd = await scenario(
    '3. approved, and the invoice call times out after taking effect',
    { customer: 'Cyd', email: 'cyd@example.com', amount: 300 },
    { approved: true, by: 'finance@example.com' },
  );
  const invoice = cyd.view.steps.find((s) => s.tool === 'createInvoice');
  check('completed; verify found the invoice', cyd.view.state === 'Completed' && invoice?.verified === true);
  check('one create call: the timed-out write was not repeated', createCalls(cyd.sagaId) === 1);

  console.log(`\ninvoices: ${billing.invoices.size}; slack: ${slack.posts.join('; ')}`);
  check('two invoices and two posts (Ada, Cyd)', billing.invoices.size === 2 && slack.posts.length === 2);
} finally {
  await worker?.close();
  await engine.close();
  if (onRedis) console.log(`deleted ${await dropPrefix()} keys under ${prefix}`);
}
if (!ok) process.exit(1);

/** Deletes this run's keys (SCAN is fine for a demo's own prefix, never in a store). */
async function dropPrefix(): Promise<number> {
  const redis = new Redis(redisUrl);
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
  return deleted;
}
