// Runs the trip on the embedded default (memory store, in-process queue). The last step fails with a
// TerminalError, so the engine compensates the three bookings, newest first; each prints a line.
import { createEngine, defineHandlers, TerminalError } from 'xsaga';
import { trip } from './trip.mjs';

const booking = (prefix) => ({
  run: async (ctx) => ({ id: `${prefix}-${ctx.input.tripId}` }),
  compensate: async (ctx) => console.log(`compensate ${ctx.step} ${ctx.result.id}`),
});

const handlers = defineHandlers(trip, {
  reserveFlight: booking('F'),
  reserveHotel: booking('H'),
  reserveCar: booking('C'),
  chargePayment: {
    run: async () => {
      throw new TerminalError('card declined');
    },
    compensate: async () => console.log('compensate chargePayment (never: it did not complete)'),
  },
});

const engine = createEngine({ handlers: { [trip.name]: handlers } });
const { sagaId } = await engine.start(trip, { tripId: 't1' });
const final = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
console.log(`state ${final.state}, failed at ${final.failure?.step}: ${final.failure?.error?.message}`);
await engine.close();
