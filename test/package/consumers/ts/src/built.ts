// A saga written with the builder, typed from the installed package's declarations.
import { type CompensationContext, saga } from 'xsaga';
import { z } from 'zod';

export const builtTrip = saga('trip-built', 1)
  .input(z.object({ tripId: z.string() }))
  .step('reserveFlight', {
    run: async (ctx) => ({ id: `flight-${ctx.input.tripId}` }),
    compensate: async (ctx: CompensationContext) => void ctx.inDoubt,
  })
  .pivot('chargePayment', { run: async (ctx) => ({ charged: ctx.input.tripId }) })
  .build();
