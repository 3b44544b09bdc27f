/**
 * Order fulfilment with a flaky warehouse: reservations retry with backoff, and when the carrier
 * refuses the parcel the stock release fails twice before it succeeds.
 *
 *   npx tsx examples/order-fulfilment/main.ts
 */
import { createEngine } from '../../src/index.ts';
import { order, orderHandlers } from './saga.ts';

const ledger: string[] = [];
const flaky = { stockBlips: 2, releaseBlips: 0, carrierRefuses: false };
const engine = createEngine({ handlers: { [order.name]: orderHandlers(flaky, ledger) } });
engine.on('transition', (e) => {
  const detail = e.step ? ` ${e.direction} ${e.step} after ${e.attempt} attempt(s)` : '';
  console.log(`  ${e.from} -> ${e.to}${detail}${e.error ? ` (${e.error.message})` : ''}`);
});

console.log('== order o-1: the warehouse is busy twice, then the order ships');
const first = await engine.waitFor((await engine.start(order, { orderId: 'o-1', sku: 'mug', quantity: 2 })).sagaId);
console.log(`final state: ${first.state}; reserveStock took ${first.steps[0]?.attempts} attempts`);

console.log('\n== order o-2: the carrier refuses; the stock release fails twice, then succeeds');
Object.assign(flaky, { stockBlips: 0, releaseBlips: 2, carrierRefuses: true });
const second = await engine.waitFor((await engine.start(order, { orderId: 'o-2', sku: 'lamp', quantity: 1 })).sagaId);
const stock = second.steps.find((s) => s.name === 'reserveStock');
console.log(
  `final state: ${second.state}; compensated ${second.compensated.join(', ')}; stock release took ${stock?.compensationAttempts} attempts`,
);
console.log(`\nledger: ${ledger.join('; ')}`);
await engine.close();

const expected =
  first.state === 'Completed' &&
  first.steps[0]?.attempts === 3 &&
  second.state === 'Failed' &&
  stock?.compensationAttempts === 3;
if (!expected) {
  console.error('unexpected outcome');
  process.exit(1);
}
