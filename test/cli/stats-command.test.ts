import { afterEach, describe, expect, it } from 'vitest';
import { runInProcess } from './run-in-process.ts';
import { SagaLab } from './saga-lab.ts';

describe('xsaga stats', () => {
  let lab: SagaLab;
  afterEach(() => lab.close());

  const stats = (...args: string[]) => runInProcess('stats', '--redis', lab.redis, '--prefix', lab.prefix, ...args);

  /** Two completed, one failed and one escalated booking; one completed refund; one pending booking. */
  async function knownRun(): Promise<void> {
    await lab.completed();
    await lab.completed();
    await lab.failed();
    await lab.escalated();
    await lab.refunded();
    await lab.stopWorker();
    await lab.pending();
  }

  it('counts by state and by saga name with --json, every state in a fixed order and names sorted', async () => {
    lab = new SagaLab();
    await knownRun();

    const { code, stdout, stderr } = await stats('--json');

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const counts = JSON.parse(stdout);
    expect(counts).toEqual({
      byState: { Started: 0, Pending: 1, Compensating: 0, Completed: 3, Failed: 1, Escalated: 1 },
      byName: {
        'cli-booking': { Started: 0, Pending: 1, Compensating: 0, Completed: 2, Failed: 1, Escalated: 1 },
        'cli-refund': { Started: 0, Pending: 0, Compensating: 0, Completed: 1, Failed: 0, Escalated: 0 },
      },
    });
    const order = ['Started', 'Pending', 'Compensating', 'Completed', 'Failed', 'Escalated'];
    expect(Object.keys(counts)).toEqual(['byState', 'byName']);
    expect(Object.keys(counts.byState)).toEqual(order);
    expect(Object.keys(counts.byName)).toEqual(['cli-booking', 'cli-refund']);
    expect(Object.keys(counts.byName['cli-refund'])).toEqual(order);
  });

  it('prints the same numbers as two aligned tables, with totals', async () => {
    lab = new SagaLab();
    await knownRun();

    const { code, stdout } = await stats();

    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        'STATE         SAGAS',
        'Started           0',
        'Pending           1',
        'Compensating      0',
        'Completed         3',
        'Failed            1',
        'Escalated         1',
        'total             6',
        '',
        'NAME         Started  Pending  Compensating  Completed  Failed  Escalated  total',
        'cli-booking        0        1             0          2       1          1      5',
        'cli-refund         0        0             0          1       0          0      1',
        '',
      ].join('\n'),
    );
  });

  it('prints zeros and no name table for a prefix with no sagas', async () => {
    lab = new SagaLab();
    const { stdout } = await stats();
    expect(stdout).toBe(
      'STATE         SAGAS\nStarted           0\nPending           0\nCompensating      0\nCompleted         0\nFailed            0\nEscalated         0\ntotal             0\n',
    );
  });
});
