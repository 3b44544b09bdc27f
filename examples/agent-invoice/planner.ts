/**
 * A deterministic fake planner: it stands where a language model would, without a network. Given
 * the goal and what happened so far, it names the next action. It decides only what to do, never
 * how: the engine checks each action against the saga's tools, runs it as a step, and rolls back or
 * escalates on its own when a step fails, so the planner only plans the way forward.
 */

/** What the agent was asked to do. */
export interface Goal {
  customer: string;
  email: string;
  amount: number;
}

/** What the agent may do next: call a tool, wait for a person, or say it is done. */
export type Action = { tool: string; args: Record<string, unknown> } | { wait: string } | 'complete';

/** One action the agent took and how it ended (what `engine.appendStep` resolved with). */
export interface Done {
  action: Exclude<Action, 'complete'>;
  status: string;
  result?: unknown;
}

/** The result of the last completed call of `tool`, if any. */
function resultOf(history: readonly Done[], tool: string): Record<string, unknown> | undefined {
  const done = history.findLast((d) => 'tool' in d.action && d.action.tool === tool && d.status === 'completed');
  return done?.result as Record<string, unknown> | undefined;
}

const waited = (history: readonly Done[], wait: string) =>
  history.some((d) => 'wait' in d.action && d.action.wait === wait && d.status === 'completed');

/**
 * The plan: make sure the customer is in the CRM, ask a person to approve, invoice, tell the team.
 * The approval comes before the invoice on purpose: see main.ts.
 */
export function nextAction(goal: Goal, history: readonly Done[]): Action {
  const contact = resultOf(history, 'crmUpsert');
  if (!contact) return { tool: 'crmUpsert', args: { email: goal.email, name: goal.customer } };
  if (!waited(history, 'approval')) return { wait: 'approval' };
  const invoice = resultOf(history, 'createInvoice');
  if (!invoice) return { tool: 'createInvoice', args: { contactId: contact.contactId, amount: goal.amount } };
  if (!resultOf(history, 'postToSlack')) {
    const text = `invoiced ${goal.customer} ${goal.amount} EUR (${String(invoice.invoiceId)})`;
    return { tool: 'postToSlack', args: { channel: '#billing', text } };
  }
  return 'complete';
}
