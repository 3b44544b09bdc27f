// A plain-JavaScript user's saga definition, imported from the installed package (no TypeScript, no tsx).
import { defineSaga } from 'xsaga';
import { z } from 'zod';

export const trip = defineSaga({
  name: 'trip-booking',
  version: 1,
  input: z.object({ tripId: z.string() }),
  steps: [
    { name: 'reserveFlight', compensate: true },
    { name: 'reserveHotel', compensate: true },
    { name: 'reserveCar', compensate: true },
    { name: 'chargePayment', compensate: true },
  ],
});
