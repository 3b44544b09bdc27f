import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const tsx = ['--import', 'tsx'];

/** The examples are real programs: CI runs each one as a user would and reads what it prints. */
describe('examples', () => {
  it('trip-booking completes one trip and rolls back the declined one', async () => {
    const { stdout } = await run('node', [...tsx, 'examples/trip-booking/main.ts']);
    expect(stdout).toMatch(/t-100[\s\S]*final state: Completed/);
    expect(stdout).toMatch(/t-200[\s\S]*final state: Failed/);
    expect(stdout).toContain('compensated (newest first): reserveCar, reserveHotel, reserveFlight');
  });

  it('order-fulfilment retries the warehouse and retries the stock release until it succeeds', async () => {
    const { stdout } = await run('node', [...tsx, 'examples/order-fulfilment/main.ts']);
    expect(stdout).toContain('final state: Completed; reserveStock took 3 attempts');
    expect(stdout).toContain('compensated chargeCustomer, reserveStock; stock release took 3 attempts');
  });

  it('verified-write finds a timed-out invoice by verify instead of creating it twice, and escalates without verify', async () => {
    const { stdout } = await run('node', [...tsx, 'examples/verified-write/main.ts']);
    expect(stdout).toContain('final state: Completed; createInvoice completed after 2 attempts');
    expect(stdout).toContain('verified: true; create calls: 1');
    expect(stdout).toMatch(/state: Escalated; escalation: \{"direction":"run","inDoubt":true,"step":"createInvoice"/);
    expect(stdout).toContain('after resume: Completed');
    expect(stdout).not.toContain('FAIL');
  });

  it('parallel-group goes ahead when two of three suppliers confirm and rolls back in reverse completion order', async () => {
    const { stdout } = await run('node', [...tsx, 'examples/parallel-group/main.ts']);
    expect(stdout).toContain('order placed with north, south');
    expect(stdout).toContain('final state: Failed; compensated (newest first): south, holdBudget');
    expect(stdout).toContain('completed in order: holdBudget, south, east, north');
    expect(stdout).toContain('compensated (newest first): north, east, south, holdBudget');
  });

  // The embedded default, then Redis + BullMQ with a worker in the same process: the same three runs.
  it.each([
    ['embedded', []],
    ['redis', ['--redis']],
  ])(
    'agent-invoice approves, rolls back a rejection and verifies a timed-out invoice (%s)',
    async (_, flags) => {
      const { stdout } = await run('node', [...tsx, 'examples/agent-invoice/main.ts', ...flags], { timeout: 60_000 });
      const [approved, rejected, timedOut] = stdout.split('\n== ').slice(1);
      expect(approved).toContain('agent: wait approval -> approval-2 completed');
      expect(approved).toContain('final state: Completed');
      expect(approved).toContain(
        'steps: crmUpsert-1=completed approval-2=completed createInvoice-3=completed postToSlack-4=completed',
      );
      expect(approved).toContain('create calls: 1; verified: false');
      expect(rejected).toContain('agent: wait approval -> approval-2 failed');
      expect(rejected).toContain('final state: Failed');
      expect(rejected).toContain('compensated: crmUpsert-1');
      expect(rejected).toContain('create calls: 0');
      expect(timedOut).toContain('final state: Completed');
      expect(timedOut).toContain('create calls: 1; verified: true; createInvoice attempts: 2');
      if (flags.length > 0) expect(stdout).toMatch(/deleted \d+ keys under xsaga-agent-invoice-/);
      expect(stdout).not.toContain('FAIL');
    },
    90_000,
  );

  it('distributed runs 100 trip sagas across one engine and two worker processes on Redis', async () => {
    const { stdout } = await run('node', [...tsx, 'examples/distributed/main.ts'], { timeout: 120_000 });
    expect(stdout).toContain('total: 100 of 100');
    expect(stdout).toMatch(/completed: \d+, failed-and-compensated: \d+, escalated: \d+/);
    expect(stdout).toContain(', 0 applied twice');
  }, 150_000);
});
