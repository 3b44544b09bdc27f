import { afterEach, describe, expect, it } from 'vitest';
import type { SagaViewPage } from '../../src/engine/engine-api.ts';
import { type CliRun, runInProcess } from './run-in-process.ts';
import { SagaLab } from './saga-lab.ts';

describe('xsaga list', () => {
  let lab: SagaLab;
  afterEach(() => lab.close());

  const list = (...args: string[]) => runInProcess('list', '--redis', lab.redis, '--prefix', lab.prefix, ...args);

  /** The table's rows as cells, cut at the columns the header line starts, proving the alignment. */
  function rowsOf(run: CliRun): string[][] {
    const [header = '', ...lines] = run.stdout.trimEnd().split('\n');
    const starts = ['SAGA ID', 'NAME', 'VERSION', 'STATE', 'STEP', 'UPDATED'].map((h) => header.indexOf(h));
    expect(starts.every((start, i) => start >= 0 && (i === 0 || start > (starts[i - 1] ?? 0)))).toBe(true);
    return lines
      .filter((line) => line !== '' && !line.startsWith('more:'))
      .map((line) => starts.map((start, i) => line.slice(start, starts[i + 1] ?? line.length).trim()));
  }

  it('prints one aligned row per saga, oldest first: id, name, version, state, the step in flight or that failed, updated time', async () => {
    lab = new SagaLab();
    const completed = await lab.completed();
    const failed = await lab.failed();
    const escalated = await lab.escalated();
    const refunded = await lab.refunded();
    await lab.stopWorker();
    const pending = await lab.pending();

    const run = await list();

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const updated = async (id: string) => new Date((await lab.get(id)).updatedAt).toISOString();
    expect(rowsOf(run)).toEqual([
      [completed, 'cli-booking', '1', 'Completed', '-', await updated(completed)],
      [failed, 'cli-booking', '1', 'Failed', 'charge', await updated(failed)],
      [escalated, 'cli-booking', '1', 'Escalated', 'reserve', await updated(escalated)],
      [refunded, 'cli-refund', '1', 'Completed', '-', await updated(refunded)],
      [pending, 'cli-booking', '1', 'Pending', 'reserve', await updated(pending)],
    ]);
  });

  it('names the wait a saga is parked at in the STEP column', async () => {
    lab = new SagaLab();
    const parked = await lab.parked();

    const run = await list();

    expect(rowsOf(run).map(([id, name, , state, step]) => [id, name, state, step])).toEqual([
      [parked, 'cli-approval', 'Pending', 'approval (waiting)'],
    ]);
  });

  it('filters by --state, by --name, and by both', async () => {
    lab = new SagaLab();
    const completed = await lab.completed();
    const failed = await lab.failed();
    const refunded = await lab.refunded();

    const ids = async (...args: string[]) => rowsOf(await list(...args)).map(([id]) => id);
    expect(await ids('--state', 'Failed')).toEqual([failed]);
    expect(await ids('--name', 'cli-refund')).toEqual([refunded]);
    expect(await ids('--state', 'Completed', '--name', 'cli-booking')).toEqual([completed]);
    expect((await list('--state', 'Escalated')).stdout).toBe('no sagas\n');
  });

  it('pages with --limit, printing the --cursor of the next page until the last one', async () => {
    lab = new SagaLab();
    const all = [await lab.completed(), await lab.failed(), await lab.completed(), await lab.refunded()];
    all.push(await lab.completed());

    const seen: string[] = [];
    const cursors: string[] = [];
    let cursor: string | undefined;
    do {
      const run = await list('--limit', '2', ...(cursor ? ['--cursor', cursor] : []));
      expect(run.code).toBe(0);
      seen.push(...rowsOf(run).map(([id]) => id as string));
      cursor = /^more: --cursor (\S+)$/m.exec(run.stdout)?.[1];
      if (cursor) cursors.push(cursor);
    } while (cursor);

    // Five sagas, two a page: pages of 2, 2 and 1, the last without a cursor; none repeated or skipped.
    expect(seen).toEqual(all);
    expect(cursors).toHaveLength(2);
  });

  it('prints the engine page { items, cursor } with --json, and pages the same way', async () => {
    lab = new SagaLab();
    const ids = [await lab.completed(), await lab.failed(), await lab.escalated()];

    const first = await list('--json', '--limit', '2');
    const page = JSON.parse(first.stdout) as SagaViewPage;
    expect(Object.keys(page)).toEqual(['items', 'cursor']);
    // Exactly what the engine's list returns: the views without their log.
    const engine = await lab.engine.list({ limit: 2 });
    expect(page).toEqual(JSON.parse(JSON.stringify(engine)));
    expect(Object.keys(page.items[0] ?? {})).toEqual(Object.keys(engine.items[0] ?? {}));

    const last = JSON.parse(
      (await list('--json', '--limit', '2', '--cursor', page.cursor ?? '')).stdout,
    ) as SagaViewPage;
    expect(Object.keys(last)).toEqual(['items']);
    expect([...page.items, ...last.items].map((v) => v.sagaId)).toEqual(ids);
    expect(last.items[0]).toMatchObject({ state: 'Escalated', escalation: { step: 'reserve' }, history: [] });
  });

  it('says so when no saga matches, and when a page after the last is empty', async () => {
    lab = new SagaLab();
    expect(await list()).toEqual({ code: 0, stdout: 'no sagas\n', stderr: '' });
    await lab.completed();
    const { stdout } = await list('--limit', '1');
    const cursor = /^more: --cursor (\S+)$/m.exec(stdout)?.[1] ?? '';
    expect((await list('--limit', '1', '--cursor', cursor)).stdout).toBe('no more sagas\n');
    expect(JSON.parse((await list('--json', '--limit', '1', '--cursor', cursor)).stdout)).toEqual({ items: [] });
  });

  it('exits 1 with the store reason for a cursor it did not make', async () => {
    lab = new SagaLab();
    const run = await list('--cursor', 'not-a-cursor');
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'xsaga: list cursor "not-a-cursor" was not made by this store; pass page.cursor back unchanged\n',
    });
  });
});
