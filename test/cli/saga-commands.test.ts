import { resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ROOT, runInProcess } from './run-in-process.ts';
import { SAGAS_MODULE, SagaLab } from './saga-lab.ts';

describe('xsaga resume | resolve | cancel', () => {
  let lab: SagaLab;
  afterEach(async () => {
    vi.unstubAllEnvs();
    await lab.close();
  });

  const command = (name: string, sagaId: string, ...args: string[]) =>
    runInProcess(name, sagaId, '--redis', lab.redis, '--prefix', lab.prefix, '--sagas', SAGAS_MODULE, ...args);

  describe('resume', () => {
    it('resumes an escalated saga: exit 0, and the compensation left is retried until the saga is Failed', async () => {
      lab = new SagaLab();
      const sagaId = await lab.escalated();
      lab.refundFails = false; // the reservation system is back

      const { code, stdout, stderr } = await command('resume', sagaId);

      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      // The state read right after the command; the service's engine may already have finished.
      expect(stdout).toMatch(new RegExp(`^resumed saga "${sagaId}"; it is now (Compensating|Failed)\\n$`));
      await lab.until(sagaId, 'Failed');
      const view = await lab.engine.get(sagaId);
      expect(view.compensated).toEqual(['reserve']);
      expect(view.escalation).toBeUndefined();
      expect(view.history.map((entry) => entry.event).slice(-2)).toEqual(['saga.resume', 'step.done']);
    });

    it('refuses a Completed saga: exit 1, the engine reason on one line, nothing changed', async () => {
      lab = new SagaLab();
      const sagaId = await lab.completed();
      const before = await lab.engine.get(sagaId);

      expect(await command('resume', sagaId)).toEqual({
        code: 1,
        stdout: '',
        stderr: `xsaga: saga "${sagaId}" is Completed; only an Escalated saga can be resumed\n`,
      });
      expect((await lab.engine.get(sagaId)).revision).toBe(before.revision);
    });

    it('exits 1 for an unknown saga', async () => {
      lab = new SagaLab();
      const { code, stderr } = await command('resume', 'no-such-saga');
      expect(code).toBe(1);
      expect(stderr).toBe(
        `xsaga: saga "no-such-saga" was not found under prefix "${lab.prefix}" at ${lab.redis}; check the id, --prefix and --redis\n`,
      );
    });

    it('prints { sagaId, command, state } with --json', async () => {
      lab = new SagaLab();
      const sagaId = await lab.escalated();
      lab.refundFails = false;

      const { code, stdout } = await command('resume', sagaId, '--json');

      expect(code).toBe(0);
      const result = JSON.parse(stdout) as Record<string, unknown>;
      expect(Object.keys(result)).toEqual(['sagaId', 'command', 'state']);
      expect(result).toMatchObject({ sagaId, command: 'resume' });
      expect(['Compensating', 'Failed']).toContain(result.state);
      await lab.until(sagaId, 'Failed');
    });

    it('refuses a saga whose definition version the --sagas module does not export, and leaves it alone', async () => {
      lab = new SagaLab();
      const sagaId = await lab.escalated();

      const run = await command('resume', sagaId, '--sagas', 'test/cli/fixtures/booking-v2.ts');

      expect(run).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `xsaga: saga "${sagaId}" was started with "cli-booking" version 1, which ` +
          `${resolve(ROOT, 'test/cli/fixtures/booking-v2.ts')} does not export (it exports cli-booking v2); ` +
          'pass --sagas a module that exports that definition\n',
      });
      // Not quarantined, as an engine meeting an unknown version of a known saga would do.
      expect((await lab.engine.get(sagaId)).state).toBe('Escalated');
    });
  });

  describe('resolve', () => {
    it('records the note and ends the saga Failed, with what was left uncompensated', async () => {
      lab = new SagaLab();
      const sagaId = await lab.escalated();

      const run = await command('resolve', sagaId, '--note', 'reservation cancelled by phone, OPS-42');

      expect(run).toEqual({ code: 0, stdout: `resolved saga "${sagaId}"; it is now Failed\n`, stderr: '' });
      expect((await lab.engine.get(sagaId)).resolution).toEqual({
        note: 'reservation cancelled by phone, OPS-42',
        uncompensated: ['reserve'],
      });
    });

    it('refuses a saga that is not Escalated', async () => {
      lab = new SagaLab();
      const sagaId = await lab.failed();
      const { code, stderr } = await command('resolve', sagaId);
      expect({ code, stderr }).toEqual({
        code: 1,
        stderr: `xsaga: saga "${sagaId}" is Failed; only an Escalated saga can be resolved\n`,
      });
    });

    it('takes the definitions module from XSAGA_SAGAS when --sagas is not given', async () => {
      lab = new SagaLab();
      const sagaId = await lab.escalated();
      vi.stubEnv('XSAGA_SAGAS', SAGAS_MODULE);

      const run = await runInProcess('resolve', sagaId, '--redis', lab.redis, '--prefix', lab.prefix);

      expect(run).toEqual({ code: 0, stdout: `resolved saga "${sagaId}"; it is now Failed\n`, stderr: '' });
    });
  });

  describe('cancel', () => {
    it('cancels a Pending saga: the step in flight finishes first, then the saga rolls back', async () => {
      lab = new SagaLab();
      const sagaId = await lab.pending();

      const run = await command('cancel', sagaId);

      expect(run).toEqual({
        code: 0,
        stdout: `cancelled saga "${sagaId}"; it is now Pending: the step in flight finishes first, then the completed steps are compensated\n`,
        stderr: '',
      });
      // Once a worker has run the step in flight, the saga undoes it and ends Failed as cancelled.
      await lab.until(sagaId, 'Failed');
      const view = await lab.engine.get(sagaId);
      expect(view.failure).toEqual({ reason: 'cancelled' });
      expect(view.compensated).toEqual(['reserve']);
    });

    it('refuses a Completed saga', async () => {
      lab = new SagaLab();
      const sagaId = await lab.completed();
      const { code, stderr } = await command('cancel', sagaId);
      expect({ code, stderr }).toEqual({
        code: 1,
        stderr: `xsaga: saga "${sagaId}" is Completed; only Started or Pending sagas can be cancelled\n`,
      });
    });
  });

  it('exits 2 when no definitions module is given, before connecting', async () => {
    lab = new SagaLab();
    const run = await runInProcess('resume', 'any', '--redis', 'redis://127.0.0.1:1');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: required option '--sagas <module>' not specified");
  });

  it('exits 1 when the definitions module does not exist, before connecting', async () => {
    lab = new SagaLab();
    const run = await runInProcess(
      'resume',
      'any',
      '--sagas',
      'test/cli/fixtures/missing.ts',
      '--redis',
      'redis://127.0.0.1:1',
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^xsaga: .*missing\.ts is not a file/);
  });
});
