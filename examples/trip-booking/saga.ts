import { z } from 'zod';
import { type CompensationContext, defineHandlers, defineSaga, TerminalError } from '../../src/index.ts';

/**
 * Book a flight, a hotel and a car, charge the card, then mail a confirmation. The reservations can
 * be undone; the charge is the pivot (once the card is charged the trip goes ahead); the mail cannot
 * be undone, so it comes last. A declined card rolls the reservations back.
 */
export const trip = defineSaga({
  name: 'trip-booking',
  version: 1,
  description: 'Flight, hotel and car, then payment, then a confirmation mail',
  input: z.object({
    tripId: z.string().min(1),
    /** Lets the example show a payment that is declined. */
    cardDeclined: z.boolean().default(false),
  }),
  steps: [
    {
      name: 'reserveFlight',
      kind: 'compensable',
      retry: { attempts: 3, backoff: { type: 'exponential', delayMs: 50 } },
      timeoutMs: 2000,
    },
    { name: 'reserveHotel', kind: 'compensable' },
    { name: 'reserveCar', kind: 'compensable' },
    { name: 'chargePayment', kind: 'pivot' },
    // After the pivot a failure cannot roll back, so the mail is retried for longer.
    { name: 'sendConfirmation', kind: 'noncompensable', retry: { attempts: 8 } },
  ],
});

/**
 * A stand-in for the participants (airline, hotel, car rental, payment provider): it records each
 * effect under its idempotency key, so a repeated call changes nothing, as a real participant's
 * idempotent API would.
 */
export class Participants {
  readonly bookings = new Map<string, string>();
  readonly log: string[] = [];
  readonly mails = new Set<string>();
  #sequence = 0;

  /** Mails once per key: a repeated send is a no-op, as with a provider's idempotency key. */
  mail(key: string, text: string): void {
    if (this.mails.has(key)) return;
    this.mails.add(key);
    this.log.push(`mailed ${text}`);
  }

  book(kind: string, key: string): string {
    const existing = this.bookings.get(key);
    if (existing) return existing;
    const id = `${kind}-${++this.#sequence}`;
    this.bookings.set(key, id);
    this.log.push(`booked ${id}`);
    return id;
  }

  cancel(bookingId: string): void {
    const key = [...this.bookings].find(([, id]) => id === bookingId)?.[0];
    // Nothing to undo is a success: the booking never happened or was already cancelled.
    if (key === undefined) return;
    this.bookings.delete(key);
    this.log.push(`cancelled ${bookingId}`);
  }

  /** Cancels whatever was booked under `key`, if anything: how an in-doubt booking is undone. */
  cancelByKey(key: string): void {
    const id = this.bookings.get(key);
    if (id !== undefined) this.cancel(id);
  }
}

/** Handlers of the trip saga, talking to `participants`. */
export function tripHandlers(participants: Participants) {
  const reservation = (kind: string) => ({
    run: async (ctx: { idempotencyKey: string }) => ({ bookingId: participants.book(kind, ctx.idempotencyKey) }),
    // A booking whose outcome was never known has no result: it is looked up by the run's key.
    compensate: async (ctx: CompensationContext) =>
      ctx.inDoubt
        ? participants.cancelByKey(ctx.runIdempotencyKey)
        : participants.cancel((ctx.result as { bookingId: string }).bookingId),
  });
  return defineHandlers(trip, {
    reserveFlight: reservation('flight'),
    reserveHotel: reservation('hotel'),
    reserveCar: reservation('car'),
    chargePayment: {
      run: async (ctx) => {
        if (ctx.input.cardDeclined) throw new TerminalError(`card declined for trip ${ctx.input.tripId}`);
        return { chargeId: participants.book('charge', ctx.idempotencyKey) };
      },
    },
    sendConfirmation: {
      run: async (ctx) => participants.mail(ctx.idempotencyKey, `confirmation of trip ${ctx.input.tripId}`),
    },
  });
}
