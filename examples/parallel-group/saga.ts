import { z } from 'zod';
import {
  type CompensationContext,
  defineHandlers,
  defineSaga,
  type StepContext,
  TerminalError,
} from '../../src/index.ts';

/**
 * A restock order split across suppliers: hold the budget, then ask three suppliers at once for
 * their share (at least two must confirm), then place the purchase order (the pivot) and notify the
 * warehouse. When fewer than two confirm, the confirmed shares are cancelled newest first, then
 * the budget is released.
 */
export const restock = defineSaga({
  name: 'restock',
  version: 1,
  input: z.object({
    sku: z.string().min(1),
    /** Suppliers that refuse, to show the policy failing. */
    refusing: z.array(z.enum(['north', 'south', 'east'])).default([]),
    /** The purchase order is rejected, to show a rollback in reverse order of completion. */
    orderRejected: z.boolean().default(false),
  }),
  steps: [
    { name: 'holdBudget' },
    {
      group: 'suppliers',
      parallel: [{ name: 'north' }, { name: 'south' }, { name: 'east' }],
      policy: { atLeast: 2 },
    },
    { name: 'placeOrder', kind: 'pivot' },
    { name: 'notifyWarehouse', kind: 'noncompensable' },
  ],
});

/** Suppliers that answer after different delays, so completion order is not definition order. */
export const DELAYS_MS = { north: 30, south: 10, east: 20 } as const;

/** The handlers, writing what each participant did to `ledger`. */
export function restockHandlers(ledger: string[]) {
  const supplier = (name: keyof typeof DELAYS_MS) => ({
    run: async (ctx: StepContext<{ sku: string; refusing: string[]; orderRejected: boolean }>) => {
      await new Promise((resolve) => setTimeout(resolve, DELAYS_MS[name]));
      if (ctx.input.refusing.includes(name)) throw new TerminalError(`${name} has no ${ctx.input.sku}`);
      ledger.push(`${name} confirmed`);
      return { confirmation: `${name}-${ctx.input.sku}` };
    },
    // Cancels by the run's key, so a share whose answer was lost (in doubt) is cancelled the same way.
    compensate: async (ctx: CompensationContext) => {
      ledger.push(`${name} cancelled${ctx.inDoubt ? ' (in doubt)' : ''}`);
    },
  });
  return defineHandlers(restock, {
    holdBudget: {
      run: async () => void ledger.push('budget held'),
      compensate: async () => void ledger.push('budget released'),
    },
    north: supplier('north'),
    south: supplier('south'),
    east: supplier('east'),
    placeOrder: {
      run: async (ctx) => {
        if (ctx.input.orderRejected) throw new TerminalError('purchase order rejected');
        // The group's results, by member: only the suppliers that confirmed.
        const confirmed = Object.keys(ctx.results.suppliers as Record<string, unknown>);
        ledger.push(`order placed with ${confirmed.join(', ')}`);
        return { suppliers: confirmed };
      },
    },
    notifyWarehouse: { run: async () => void ledger.push('warehouse notified') },
  });
}
