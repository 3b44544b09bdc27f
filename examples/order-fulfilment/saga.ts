import { z } from 'zod';
import { defineHandlers, defineSaga, TerminalError } from '../../src/index.ts';

/**
 * Reserve stock, charge, hand the parcel to the carrier, notify the warehouse. The warehouse is
 * flaky, so every step retries. Handing over the parcel is the pivot: a carrier that refuses it
 * rolls the charge and the reservation back; once it has the parcel, the order goes ahead.
 */
export const order = defineSaga({
  name: 'order-fulfilment',
  version: 1,
  input: z.object({ orderId: z.string().min(1), sku: z.string().min(1), quantity: z.number().int().positive() }),
  steps: [
    {
      name: 'reserveStock',
      retry: { attempts: 4, backoff: { type: 'exponential', delayMs: 20 } },
      compensate: { retry: { attempts: 5, backoff: { type: 'fixed', delayMs: 20 } } },
    },
    { name: 'chargeCustomer', retry: { attempts: 3, backoff: { type: 'exponential', delayMs: 20 } } },
    { name: 'shipParcel', kind: 'pivot', retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 20 } } },
    // Sending the notice cannot be undone, so it comes last, after the point of no return.
    { name: 'notifyWarehouse', kind: 'noncompensable' },
  ],
});

/** Knobs of the flaky participants, so the example can show retries and a failing shipment. */
export interface Flakiness {
  /** The first N stock reservations time out. */
  stockBlips: number;
  /** The first N stock releases fail (the compensation is retried). */
  releaseBlips: number;
  /** The carrier refuses the parcel. */
  carrierRefuses: boolean;
}

/** Handlers of the order saga against an in-memory warehouse that fails on purpose. */
export function orderHandlers(flaky: Flakiness, ledger: string[]) {
  let stockCalls = 0;
  let releaseCalls = 0;
  return defineHandlers(order, {
    reserveStock: {
      run: async (ctx) => {
        stockCalls++;
        if (stockCalls <= flaky.stockBlips) throw new Error(`warehouse busy (call ${stockCalls})`);
        ledger.push(`reserved ${ctx.input.quantity} x ${ctx.input.sku}`);
        return { reservationId: `R-${ctx.input.orderId}` };
      },
      compensate: async (ctx) => {
        releaseCalls++;
        if (releaseCalls <= flaky.releaseBlips) throw new Error(`warehouse busy releasing (call ${releaseCalls})`);
        // The id follows from the order, so a reservation whose outcome was never known (ctx.inDoubt,
        // no result) is released the same way; releasing one that does not exist is a no-op.
        ledger.push(`released R-${ctx.input.orderId}${ctx.inDoubt ? ' (in doubt)' : ''}`);
      },
    },
    chargeCustomer: {
      run: async (ctx) => {
        ledger.push(`charged order ${ctx.input.orderId}`);
        return { paymentId: `P-${ctx.input.orderId}` };
      },
      compensate: async (ctx) => {
        ledger.push(`refunded P-${ctx.input.orderId}${ctx.inDoubt ? ' (in doubt)' : ''}`);
      },
    },
    notifyWarehouse: {
      run: async (ctx) => {
        ledger.push(`notified warehouse of ${ctx.input.orderId}`);
      },
    },
    shipParcel: {
      run: async (ctx) => {
        if (flaky.carrierRefuses) throw new TerminalError(`carrier refused parcel of order ${ctx.input.orderId}`);
        ledger.push(`shipped ${ctx.input.orderId}`);
        return { trackingId: `T-${ctx.input.orderId}` };
      },
    },
  });
}
