// A strict TypeScript user's saga: step names and the input type flow from the definition into the
// handlers, and the public types are importable from the package root.
import {
  createEngine,
  defineHandlers,
  defineSaga,
  type Engine,
  type SagaInput,
  type SagaState,
  type SagaView,
  type StepContext,
  TerminalError,
} from 'xsaga';
import { z } from 'zod';

export const trip = defineSaga({
  name: 'trip-booking',
  version: 1,
  input: z.object({ tripId: z.string(), declined: z.boolean().default(false) }),
  steps: [{ name: 'reserveFlight' }, { name: 'reserveHotel' }, { name: 'chargePayment', kind: 'pivot' }],
});

export type TripInput = SagaInput<typeof trip>;

const book = async (ctx: StepContext<TripInput>) => ({ id: `${ctx.step}-${ctx.input.tripId}` });

export const tripHandlers = defineHandlers(trip, {
  reserveFlight: { run: book, compensate: async () => {} },
  reserveHotel: { run: book, compensate: async () => {} },
  chargePayment: {
    run: async (ctx) => {
      const declined: boolean = ctx.input.declined;
      if (declined) throw new TerminalError('card declined');
      return { charged: ctx.input.tripId };
    },
    verify: async () => ({ done: false }),
  },
});

defineHandlers(trip, {
  reserveFlight: { run: book, compensate: async () => {} },
  reserveHotel: { run: book, compensate: async () => {} },
  chargePayment: { run: book },
  // @ts-expect-error: the definition has no step of this name
  reserveCar: { run: book },
});

export async function bookTrip(tripId: string): Promise<SagaState> {
  const engine: Engine = createEngine({ handlers: { [trip.name]: tripHandlers } });
  try {
    const { sagaId } = await engine.start(trip, { tripId });
    const view: SagaView = await engine.waitFor(sagaId);
    return view.state;
  } finally {
    await engine.close();
  }
}
