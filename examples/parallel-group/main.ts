/**
 * A parallel group: three suppliers asked at once, at least two must confirm.
 *
 *   npx tsx examples/parallel-group/main.ts
 */
import { createEngine } from '../../src/index.ts';
import { restock, restockHandlers } from './saga.ts';

const ledger: string[] = [];
const engine = createEngine({ handlers: { [restock.name]: restockHandlers(ledger) } });

console.log('== restock r-1: one supplier refuses, two confirm: the order goes ahead');
const first = await engine.waitFor((await engine.start(restock, { sku: 'mug', refusing: ['east'] })).sagaId);
console.log(`final state: ${first.state}; completed in order: ${first.completed.join(', ')}`);
console.log(`ledger: ${ledger.splice(0).join('; ')}`);

console.log('\n== restock r-2: two suppliers refuse: the confirmed share and the budget are rolled back');
const second = await engine.waitFor((await engine.start(restock, { sku: 'lamp', refusing: ['north', 'east'] })).sagaId);
console.log(`final state: ${second.state}; compensated (newest first): ${second.compensated.join(', ')}`);
console.log(`ledger: ${ledger.splice(0).join('; ')}`);

console.log('\n== restock r-3: all three confirm, the purchase order is rejected: shares cancelled newest first');
const third = await engine.waitFor((await engine.start(restock, { sku: 'desk', orderRejected: true })).sagaId);
console.log(`final state: ${third.state}; completed in order: ${third.completed.join(', ')}`);
console.log(`compensated (newest first): ${third.compensated.join(', ')}`);
console.log(`ledger: ${ledger.splice(0).join('; ')}`);
await engine.close();

const reverse = [...third.completed].reverse().join();
if (
  first.state !== 'Completed' ||
  second.state !== 'Failed' ||
  second.compensated.join() !== 'south,holdBudget' ||
  third.state !== 'Failed' ||
  third.compensated.join() !== reverse
) {
  console.error('unexpected outcome');
  process.exit(1);
}
