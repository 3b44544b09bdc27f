/**
 * The main job: the trip-booking saga on the embedded engine (memory store, in-process queue, no
 * server), run twice: once succeeding, once with the payment declined, which rolls back.
 *
 *   npm run example
 */
import { createEngine, type SagaView } from '../../src/index.ts';
import { Participants, trip, tripHandlers } from './saga.ts';

const participants = new Participants();
const engine = createEngine({ handlers: { [trip.name]: tripHandlers(participants) } });

engine.on('transition', (entry) => {
  const step = entry.step ? `  ${entry.direction} ${entry.step} (attempt ${entry.attempt})` : '';
  const error = entry.error ? `  error: ${entry.error.message}` : '';
  console.log(`  ${entry.from || '(new)'} -> ${entry.to}${step}${error}`);
});

function summary(view: SagaView): string {
  const steps = view.steps.map((s) => `${s.name}=${s.status}`).join(' ');
  return `final state: ${view.state}\n  steps: ${steps}\n  compensated (newest first): ${view.compensated.join(', ') || 'none'}`;
}

const runs: Array<{ title: string; input: { tripId: string; cardDeclined: boolean }; expected: string }> = [
  { title: 'trip t-100: every step succeeds', input: { tripId: 't-100', cardDeclined: false }, expected: 'Completed' },
  {
    title: 'trip t-200: payment declined, bookings rolled back',
    input: { tripId: 't-200', cardDeclined: true },
    expected: 'Failed',
  },
];

let ok = true;
for (const run of runs) {
  console.log(`\n== ${run.title}`);
  const { sagaId } = await engine.start(trip, run.input);
  const final = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
  console.log(summary(final));
  if (final.state !== run.expected) {
    console.error(`  expected ${run.expected}, got ${final.state}`);
    ok = false;
  }
}
console.log(`\nparticipant ledger: ${participants.log.join('; ')}`);
console.log(`open bookings left: ${participants.bookings.size} (the successful trip's four)`);
await engine.close();
if (!ok || participants.bookings.size !== 4 || participants.mails.size !== 1) process.exit(1);
