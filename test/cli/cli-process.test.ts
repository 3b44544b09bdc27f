import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { SagaViewPage } from '../../src/engine/engine-api.ts';
import type { SagaView } from '../../src/engine/saga-view.ts';
import { SAGAS_MODULE, SagaLab } from './saga-lab.ts';
import { spawnCli } from './spawn-cli.ts';

/**
 * The published command as its own process (`spawn-cli.ts`): exit codes as a shell sees them, one
 * line and no stack trace on stderr, and a process that exits by itself (every connection closed).
 */
describe('the xsaga command, as a process', () => {
  let lab: SagaLab | undefined;
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  /** Runs the command against the lab's Redis and prefix. */
  const xsaga = (labIn: SagaLab, ...args: string[]) =>
    spawnCli([...args, '--redis', labIn.redis, '--prefix', labIn.prefix]);

  it('resumes an escalated saga: exit 0, and the service finishes the rollback', async () => {
    lab = new SagaLab();
    const sagaId = await lab.escalated();
    lab.refundFails = false;

    const run = await xsaga(lab, 'resume', sagaId, '--sagas', SAGAS_MODULE);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^resumed saga ".*"; it is now (Compensating|Failed)\n$/);
    await lab.until(sagaId, 'Failed');
  });

  it('refuses to resume a Completed saga: exit 1, one line on stderr, no stack trace', async () => {
    lab = new SagaLab();
    const sagaId = await lab.completed();

    const run = await xsaga(lab, 'resume', sagaId, '--sagas', SAGAS_MODULE);

    expect(run).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `xsaga: saga "${sagaId}" is Completed; only an Escalated saga can be resumed\n`,
    });
  });

  it('signals a parked saga: exit 0, and the process exits by itself once the saga goes on', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const run = await xsaga(lab, 'signal', sagaId, 'approval', '{"approved":true,"by":"ana"}', '--sagas', SAGAS_MODULE);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^signalled "approval" of saga ".*"; it is now (Pending|Completed)\n$/);
    await lab.until(sagaId, 'Completed');
  });

  it('exits 1 for an unknown saga', async () => {
    lab = new SagaLab();
    const run = await xsaga(lab, 'show', 'no-such-saga');
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([expect.stringMatching(/^xsaga: saga "no-such-saga" was not found/), '']);
  });

  it('exits 1 with only the reason on stderr when the stored record is unusable', async () => {
    lab = new SagaLab();
    const sagaId = await lab.completed();
    const redis = new Redis(lab.redis);
    await redis.set(`${lab.prefix}:snap:{${sagaId}}`, '[');
    await redis.quit();

    const run = await xsaga(lab, 'show', sagaId);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^xsaga: the stored record of saga ".*" is unusable: .*\(the saga is quarantined\)\n$/);
  });

  it('exits 2 for a bad flag', async () => {
    const run = await spawnCli(['list', '--state', 'Done']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("option '--state <state>' argument 'Done' is invalid.");
  });

  it('exits 2 fast, with one line and no stack trace, when Redis cannot be reached', async () => {
    const run = await spawnCli(['stats', '--redis', 'redis://127.0.0.1:1']);
    expect(run).toMatchObject({
      code: 2,
      stdout: '',
      stderr:
        'xsaga: cannot reach Redis at redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1; ' +
        'check --redis (or REDIS_URL) and that Redis is running\n',
    });
    // Start-up included: the connection is refused at once and nothing keeps the process alive.
    expect(run.ms).toBeLessThan(5_000);
  });

  it('shows an escalated saga with its timeline, and prints its SagaView with --json', async () => {
    lab = new SagaLab();
    const sagaId = await lab.escalated();

    const table = await xsaga(lab, 'show', sagaId);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('state       Escalated\n');
    expect(table.stdout).toMatch(/\nSaga log\nTIME +FROM -> TO +EVENT +STEP +ATTEMPT +ERROR\n/);
    expect(table.stdout).toMatch(
      /Compensating\.reserve -> Escalated +step\.failed +reserve \(compensate\) +1 +TerminalError/,
    );

    const json = await xsaga(lab, 'show', sagaId, '--json');
    expect(JSON.parse(json.stdout) as SagaView).toEqual(JSON.parse(JSON.stringify(await lab.engine.get(sagaId))));
  });

  it('prints list and stats as JSON a script can read', async () => {
    lab = new SagaLab();
    await lab.completed();
    const escalated = await lab.escalated();

    const list = JSON.parse((await xsaga(lab, 'list', '--state', 'Escalated', '--json')).stdout) as SagaViewPage;
    expect(list.items.map((v) => [v.sagaId, v.state])).toEqual([[escalated, 'Escalated']]);
    expect(list.cursor).toBeUndefined();

    const stats = JSON.parse((await xsaga(lab, 'stats', '--json')).stdout);
    expect(stats.byState).toMatchObject({ Completed: 1, Escalated: 1 });
    expect(stats.byName['cli-booking']).toMatchObject({ Completed: 1, Escalated: 1 });
  });

  it('reads the definitions module from XSAGA_SAGAS', async () => {
    lab = new SagaLab();
    const sagaId = await lab.escalated();

    const run = await spawnCli(['resolve', sagaId, '--redis', lab.redis, '--prefix', lab.prefix, '--note', 'by hand'], {
      XSAGA_SAGAS: SAGAS_MODULE,
    });

    expect(run).toMatchObject({ code: 0, stdout: `resolved saga "${sagaId}"; it is now Failed\n`, stderr: '' });
  });
});
