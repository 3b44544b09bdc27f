import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { SagaView } from '../../src/engine/saga-view.ts';
import { runInProcess } from './run-in-process.ts';
import { SagaLab } from './saga-lab.ts';

describe('xsaga show', () => {
  let lab: SagaLab;
  afterEach(() => lab.close());

  const show = (...args: string[]) => runInProcess('show', '--redis', lab.redis, '--prefix', lab.prefix, ...args);
  const iso = (ms: number) => new Date(ms).toISOString();

  it('shows an escalated saga: its fields, the failure and the escalation, its steps and its saga log as a timeline', async () => {
    lab = new SagaLab();
    const sagaId = await lab.escalated('esc-1');
    const view = await lab.engine.get(sagaId);

    const { code, stdout, stderr } = await show(sagaId);

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const [head = '', steps = '', log = ''] = stdout.split('\n\n');
    expect(head.split('\n')).toEqual([
      `saga        ${sagaId}`,
      'name        cli-booking v1',
      'state       Escalated',
      'input       {"ref":"esc-1","outcome":"escalate"}',
      `created     ${iso(view.createdAt)}`,
      `updated     ${iso(view.updatedAt)}`,
      `revision    ${view.revision}`,
      'failure     step charge failed: TerminalError (TERMINAL): card declined for esc-1',
      'escalation  compensation of reserve failed: TerminalError (TERMINAL): the reservation system refused the cancellation; uncompensated: reserve',
    ]);
    expect(steps.split('\n')).toEqual([
      'Steps',
      'STEP     STATUS               ATTEMPTS  COMPENSATION ATTEMPTS  ERROR',
      'reserve  compensation_failed         1                      1  TerminalError (TERMINAL): the reservation system refused the cancellation',
      'notify   skipped                     1                      0',
      'charge   failed                      1                      0  TerminalError (TERMINAL): card declined for esc-1',
    ]);

    // The timeline: one line per log entry, oldest first, columns as the header places them.
    const [title, header = '', ...lines] = log.trimEnd().split('\n');
    expect(title).toBe('Saga log');
    const at = (h: string) => header.indexOf(h);
    const cell = (line: string, from: string, to?: string) => line.slice(at(from), to ? at(to) : undefined).trim();
    expect(lines).toHaveLength(view.history.length);
    expect(
      lines.map((line) => [
        cell(line, 'TIME', 'FROM -> TO'),
        cell(line, 'FROM -> TO', 'EVENT'),
        cell(line, 'EVENT', 'STEP'),
        cell(line, 'STEP', 'ATTEMPT'),
        cell(line, 'ATTEMPT', 'ERROR'),
        cell(line, 'ERROR'),
      ]),
    ).toEqual([
      [iso(view.history[0]?.at ?? 0), '-> Started', 'saga.created', '', '', ''],
      [iso(view.history[1]?.at ?? 0), 'Started -> Pending.reserve', 'saga.start', '', '', ''],
      [iso(view.history[2]?.at ?? 0), 'Pending.reserve -> Pending.notify', 'step.done', 'reserve', '1', ''],
      [iso(view.history[3]?.at ?? 0), 'Pending.notify -> Pending.charge', 'step.done', 'notify', '1', ''],
      [
        iso(view.history[4]?.at ?? 0),
        'Pending.charge -> Compensating.reserve',
        'step.failed',
        'charge',
        '1',
        'TerminalError (TERMINAL): card declined for esc-1',
      ],
      [
        iso(view.history[5]?.at ?? 0),
        'Compensating.reserve -> Escalated',
        'step.failed',
        'reserve (compensate)',
        '1',
        'TerminalError (TERMINAL): the reservation system refused the cancellation',
      ],
    ]);
  });

  it('shows a step parked at a wait as waiting for a signal or its deadline', async () => {
    lab = new SagaLab();
    const sagaId = await lab.parked();

    const { code, stdout } = await show(sagaId);

    expect(code).toBe(0);
    const steps = stdout.split('\n\n')[1] ?? '';
    expect(steps.split('\n')).toEqual([
      'Steps',
      'STEP      STATUS                        ATTEMPTS  COMPENSATION ATTEMPTS  ERROR',
      'hold      completed                            1                      0',
      'approval  waiting (signal or deadline)         0                      0',
      'payOut    idle                                 0                      0',
    ]);
    expect(stdout).toMatch(/Pending\.hold -> Pending\.approval\s+step\.done\s+hold\s+1\n$/);
  });

  it("shows the tool each step of a dynamic saga ran, and the saga's signal in its log", async () => {
    lab = new SagaLab();
    const { sagaId, answered } = await lab.agentParked();

    const parked = await show(sagaId);
    await lab.engine.signal(sagaId, 'approval', { approved: true, by: 'ana' });
    await answered;
    const answeredRun = await show(sagaId);

    expect(parked.stdout.split('\n\n')[1]?.split('\n')).toEqual([
      'Steps',
      'STEP        TOOL      STATUS                        ATTEMPTS  COMPENSATION ATTEMPTS  ERROR',
      'lookup-1    lookup    completed                            1                      0',
      'approval-2  approval  waiting (signal or deadline)         0                      0',
    ]);
    expect(answeredRun.stdout).toContain('approval-2  approval  completed ');
    expect(answeredRun.stdout).toMatch(/Pending\.waiting -> Pending\.idle\s+saga\.signal\n$/);
    await lab.engine.complete(sagaId);
  });

  it('prints the engine SagaView with --json, keys in the engine order', async () => {
    lab = new SagaLab();
    const sagaId = await lab.failed();

    const { code, stdout } = await show(sagaId, '--json');

    expect(code).toBe(0);
    const view = await lab.engine.get(sagaId);
    const printed = JSON.parse(stdout) as SagaView;
    expect(printed).toEqual(JSON.parse(JSON.stringify(view)));
    expect(Object.keys(printed)).toEqual([
      'sagaId',
      'name',
      'version',
      'state',
      'input',
      'steps',
      'completed',
      'compensated',
      'skipped',
      'failure',
      'revision',
      'createdAt',
      'updatedAt',
      'history',
    ]);
    expect(stdout.endsWith('}\n')).toBe(true);
  });

  it('shows the resolution of a saga a person resolved', async () => {
    lab = new SagaLab();
    const sagaId = await lab.escalated();
    await lab.engine.resolve(sagaId, 'cancelled the reservation\nby phone');

    const { stdout } = await show(sagaId);

    expect(stdout).toContain('state       Failed\n');
    expect(stdout).toContain('resolution  "cancelled the reservation by phone"; left uncompensated: reserve\n');
    expect(stdout).toMatch(/Escalated -> Failed\s+saga\.resolve\n/);
  });

  it('exits 1 for a saga whose stored record is unusable, which is then quarantined as the engine does', async () => {
    lab = new SagaLab();
    const sagaId = await lab.completed();
    const redis = new Redis(lab.redis);
    await redis.set(`${lab.prefix}:snap:{${sagaId}}`, '{"not": "a snapshot"');
    await redis.quit();

    const run = await show(sagaId);

    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
    expect(run.stderr).toMatch(
      new RegExp(
        `^xsaga: the stored record of saga "${sagaId}" is unusable: snapshot .*\\(the saga is quarantined\\)\\n$`,
      ),
    );
    expect((await show(sagaId)).stderr).toContain(`saga "${sagaId}" was not found`);
  });

  it('exits 1 for an unknown saga, saying where it looked', async () => {
    lab = new SagaLab();
    expect(await show('no-such-saga')).toEqual({
      code: 1,
      stdout: '',
      stderr: `xsaga: saga "no-such-saga" was not found under prefix "${lab.prefix}" at ${lab.redis}; check the id, --prefix and --redis\n`,
    });
  });
});
