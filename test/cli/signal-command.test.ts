import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runInProcess } from './run-in-process.ts';
import { SAGAS_MODULE, SagaLab } from './saga-lab.ts';

describe('xsaga signal', () => {
  let lab: SagaLab;
  afterEach(() => lab.close());

  const signal = (sagaId: string, ...args: string[]) =>
    runInProcess('signal', sagaId, '--redis', lab.redis, '--prefix', lab.prefix, '--sagas', SAGAS_MODULE, ...args);
  const approved = JSON.stringify({ approved: true, by: 'ana' });

  it('answers a saga parked at a wait: exit 0, and the saga goes on with the payload to Completed', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const { code, stdout, stderr } = await signal(sagaId, 'approval', approved);

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    // The state read right after the signal; the service's engine may already have run `payOut`.
    expect(stdout).toMatch(new RegExp(`^signalled "approval" of saga "${sagaId}"; it is now (Pending|Completed)\\n$`));
    await lab.until(sagaId, 'Completed');
    const view = await lab.engine.get(sagaId);
    expect(view.steps.find((step) => step.name === 'approval')).toMatchObject({
      status: 'completed',
      result: { approved: true, by: 'ana' },
    });
    expect(view.history.map((entry) => entry.event)).toContain('saga.signal');
  });

  it('rolls the saga back when the wait rejects the answer', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const { code, stdout } = await signal(sagaId, 'approval', JSON.stringify({ approved: false, by: 'ana' }));

    expect(code).toBe(0);
    expect(stdout).toMatch(/it is now (Compensating|Failed)\n$/);
    await lab.until(sagaId, 'Failed');
    expect((await lab.engine.get(sagaId)).compensated).toEqual(['hold']);
  });

  it('exits 2 for a payload that is not JSON, naming the problem, before anything is opened', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();
    const before = await lab.engine.get(sagaId);

    const run = await signal(sagaId, 'approval', '{approved: true}');

    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(
      /^xsaga: the payload is not JSON \(.+\); pass one JSON value quoted for the shell, e\.g\. '\{"approved":true\}'\n$/,
    );
    expect((await lab.engine.get(sagaId)).revision).toBe(before.revision);
    // Nor is a Redis needed to say so.
    const offline = await runInProcess(
      'signal',
      'any',
      'approval',
      'yes',
      '--sagas',
      SAGAS_MODULE,
      '--redis',
      'redis://127.0.0.1:1',
    );
    expect(offline.code).toBe(2);
    expect(offline.stderr).toMatch(/^xsaga: the payload is not JSON/);
  });

  it('refuses a payload the wait schema refuses: exit 1, SIGNAL_INVALID naming the field, nothing changed', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();
    const before = await lab.engine.get(sagaId);

    const run = await signal(sagaId, 'approval', JSON.stringify({ approved: 'yes', by: 'ana' }));

    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
    expect(run.stderr).toMatch(
      new RegExp(`^xsaga: signal "approval" for saga "${sagaId}" is invalid: .*approved.*\\n$`),
    );
    const after = await lab.engine.get(sagaId);
    expect(after.revision).toBe(before.revision);
    expect(after.steps.find((step) => step.name === 'approval')?.status).toBe('waiting');
  });

  it('refuses a wait the saga does not have, naming the waits it has', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const run = await signal(sagaId, 'approve', approved);

    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `xsaga: saga "${sagaId}" ("cli-approval") has no wait named "approve"; its waits are "approval"\n`,
    });
  });

  it('refuses a saga that is not parked at the wait: exit 1, SIGNAL_NOT_AWAITED, nothing changed', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();
    await lab.engine.signal(sagaId, 'approval', { approved: true, by: 'ana' });
    await lab.until(sagaId, 'Completed');
    const before = await lab.engine.get(sagaId);

    const run = await signal(sagaId, 'approval', approved);

    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `xsaga: saga "${sagaId}" is not waiting for signal "approval": that wait already ended; nothing changed\n`,
    });
    expect((await lab.engine.get(sagaId)).revision).toBe(before.revision);
  });

  it('says a repeat of the same --signal-id changed nothing, and exits 0', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const first = await signal(sagaId, 'approval', approved, '--signal-id', 'mail-7');
    await lab.until(sagaId, 'Completed');
    const again = await signal(sagaId, 'approval', approved, '--signal-id', 'mail-7');

    expect(first.code).toBe(0);
    expect(first.stdout).not.toContain('repeat');
    expect(again).toEqual({
      code: 0,
      stdout: `signalled "approval" of saga "${sagaId}" (a repeat of signal "mail-7": nothing changed); it is now Completed\n`,
      stderr: '',
    });
    // Another id is another signal, and the wait has ended.
    const other = await signal(sagaId, 'approval', approved, '--signal-id', 'mail-8');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('that wait already ended (signal "mail-7")');
  });

  it('prints { sagaId, command, wait, duplicate, state } with --json', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const first = await signal(sagaId, 'approval', approved, '--signal-id', 's-1', '--json');
    await lab.until(sagaId, 'Completed');
    const again = await signal(sagaId, 'approval', approved, '--signal-id', 's-1', '--json');

    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout) as Record<string, unknown>;
    expect(Object.keys(result)).toEqual(['sagaId', 'command', 'wait', 'duplicate', 'state']);
    expect(result).toMatchObject({ sagaId, command: 'signal', wait: 'approval', duplicate: false });
    expect(['Pending', 'Completed']).toContain(result.state);
    expect(JSON.parse(again.stdout)).toEqual({
      sagaId,
      command: 'signal',
      wait: 'approval',
      duplicate: true,
      state: 'Completed',
    });
  });

  describe('--payload-file', () => {
    let dir: string | undefined;
    afterEach(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('reads the payload from the file', async () => {
      lab = new SagaLab();
      const sagaId = await lab.parked();
      dir = await mkdtemp(join(tmpdir(), 'xsaga-signal-'));
      const file = join(dir, 'answer.json');
      await writeFile(file, `${approved}\n`);

      const run = await signal(sagaId, 'approval', '--payload-file', file);

      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      await lab.until(sagaId, 'Completed');
    });

    it('exits 2 for a file that cannot be read or is not JSON, and for a payload given twice', async () => {
      lab = new SagaLab();
      dir = await mkdtemp(join(tmpdir(), 'xsaga-signal-'));
      const file = join(dir, 'answer.json');
      await writeFile(file, 'approved\n');
      const missing = join(dir, 'missing.json');

      const notJson = await signal('any', 'approval', '--payload-file', file);
      const unreadable = await signal('any', 'approval', '--payload-file', missing);
      const twice = await signal('any', 'approval', approved, '--payload-file', file);

      expect(notJson.code).toBe(2);
      expect(notJson.stderr).toMatch(new RegExp(`^xsaga: --payload-file ${file} is not JSON \\(`));
      expect(unreadable.code).toBe(2);
      expect(unreadable.stderr).toMatch(new RegExp(`^xsaga: --payload-file ${missing} could not be read: ENOENT`));
      expect(twice).toEqual({
        code: 2,
        stdout: '',
        stderr: 'xsaga: give the payload as an argument or with --payload-file, not both\n',
      });
    });
  });

  it("answers a dynamic saga's wait by the wait's name, not its step's", async () => {
    lab = new SagaLab();
    const { sagaId, answered } = await lab.agentParked();

    const byStep = await signal(sagaId, 'approval-2', approved);
    const run = await signal(sagaId, 'approval', approved);

    expect(byStep.code).toBe(1);
    expect(byStep.stderr).toContain('has no wait named "approval-2"; its waits are "approval"');
    expect(run).toEqual({
      code: 0,
      stdout: `signalled "approval" of saga "${sagaId}"; it is now Pending\n`,
      stderr: '',
    });
    // The agent's appendStep of the wait resolves with the payload, and the agent goes on.
    expect(await answered).toMatchObject({
      step: 'approval-2',
      status: 'completed',
      result: { approved: true, by: 'ana' },
    });
    await lab.engine.complete(sagaId);
    await lab.until(sagaId, 'Completed');
  });

  it('sends {} when no payload is given', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const run = await signal(sagaId, 'approval');

    // `{}` reaches the wait's schema, which names the first field it misses.
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is invalid: .*approved/);
  });
});
