import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import packageJson from '../../package.json' with { type: 'json' };
import { runCli } from '../../src/cli/run-cli.ts';
import { buildSagaMachine } from '../../src/machines/build-saga-machine.ts';
import { type StatelyStateNodeJson, toStatelyJson } from '../../src/machines/to-json.ts';
import type { MachineConfigJson } from '../../src/machines/to-machine-config.ts';
import { tripBooking } from '../fixtures/trip-booking-saga.ts';
import { spawnCli } from './spawn-cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => `test/fixtures/${name}.ts`;

/** Runs the CLI in-process from the repo root, capturing what it writes. */
async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    cwd: root,
  });
  return { code, stdout, stderr };
}

describe('xsaga graph', () => {
  it('prints the Mermaid diagram of the one definition a module exports, by default', async () => {
    const { code, stdout, stderr } = await run('graph', fixture('trip-booking-saga'));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(stdout).not.toContain('%%');
    for (const state of ['Started', 'state Pending {', 'state Compensating {', 'Completed', 'Failed', 'Escalated']) {
      expect(stdout).toContain(state);
    }
    expect(stdout).toContain('Pending_reserve_flight --> Pending_send_confirmation : step.done [guarded]');
  });

  it('prints the machine as JSON with --format json', async () => {
    const { code, stdout } = await run('graph', fixture('trip-booking-saga'), '--format', 'json');
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as StatelyStateNodeJson;
    expect(json.id).toBe('trip-booking');
    expect(Object.keys(json.states)).toEqual([
      'Started',
      'Pending',
      'Compensating',
      'Completed',
      'Failed',
      'Escalated',
    ]);
    expect(Object.keys(json.states.Pending?.states ?? {})).toEqual([
      'reserve-flight',
      'send_confirmation',
      'charge-card',
    ]);
  });

  it('prints the machine config as createMachine({...}) for the Stately editor with --format stately', async () => {
    const { code, stdout, stderr } = await run('graph', fixture('trip-booking-saga'), '--format', 'stately');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    // What the editor's Import takes: a createMachine() call whose argument is plain JSON.
    const match = /^createMachine\((\{[\s\S]*\})\)\n$/.exec(stdout);
    expect(match).not.toBeNull();
    const config = JSON.parse(match?.[1] ?? '') as MachineConfigJson;
    expect(config).toMatchObject({ id: 'trip-booking', initial: 'Started' });
    expect(config.states?.Started?.on?.['saga.start']).toBe('Pending');
    expect(Object.keys(config.states?.Pending?.states ?? {})).toEqual([
      'reserve-flight',
      'send_confirmation',
      'charge-card',
    ]);
    expect(config.states?.Pending?.states?.['reserve-flight']?.invoke).toEqual({ src: 'stepJob' });
    // A config, not the resolved tree of --format json, and nothing but JSON data in it.
    expect(stdout).not.toContain('"eventType"');
    expect(stdout).not.toContain('"order"');
    // XState builds the same machine from it: same states, events, targets, guarded or not.
    expect(toStatelyJson(createMachine(config as never))).toEqual(toStatelyJson(buildSagaMachine(tripBooking)));
  });

  it('prints one createMachine call per definition, each under a // name vN comment, with --format stately', async () => {
    const { code, stdout } = await run('graph', fixture('two-sagas'), '--format', 'stately');
    expect(code).toBe(0);
    expect(stdout.match(/^\/\/ .*$/gm)).toEqual(['// order-fulfilment v1', '// refund v3']);
    expect(stdout.match(/^createMachine\(\{$/gm)).toHaveLength(2);
    expect(stdout.match(/^ {2}"id": "(.*)",$/gm)).toEqual(['  "id": "order-fulfilment",', '  "id": "refund",']);
  });

  it('prints every definition of a module that exports several, each under a %% name vN comment', async () => {
    const { code, stdout } = await run('graph', fixture('two-sagas'));
    expect(code).toBe(0);
    expect(stdout.match(/^%% .*$/gm)).toEqual(['%% order-fulfilment v1', '%% refund v3']);
    expect(stdout.match(/^stateDiagram-v2$/gm)).toHaveLength(2);
  });

  it('prints a JSON array of { name, version, machine } for several definitions', async () => {
    const { code, stdout } = await run('graph', fixture('two-sagas'), '-f', 'json');
    expect(code).toBe(0);
    const list = JSON.parse(stdout) as { name: string; version: number; machine: StatelyStateNodeJson }[];
    expect(list.map(({ name, version, machine }) => [name, version, machine.id])).toEqual([
      ['order-fulfilment', 1, 'order-fulfilment'],
      ['refund', 3, 'refund'],
    ]);
  });

  it('prints only the saga named by --saga', async () => {
    const { code, stdout } = await run('graph', fixture('two-sagas'), '--saga', 'refund');
    expect(code).toBe(0);
    expect(stdout).not.toContain('%%');
    expect(stdout).toContain('state "refundPayment [query]" as Pending_refundPayment');
    expect(stdout).not.toContain('reserveStock');
  });

  describe('errors', () => {
    it('exits 1 naming the resolved path when the file does not exist', async () => {
      const { code, stdout, stderr } = await run('graph', 'test/fixtures/missing.ts');
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toBe(
        `xsaga: ${resolve(root, 'test/fixtures/missing.ts')} is not a file (resolved "test/fixtures/missing.ts" from ${root}); ` +
          'pass the path of a module that exports a saga definition\n',
      );
    });

    it('exits 1 listing the exports when the module exports no saga definition', async () => {
      const { code, stderr } = await run('graph', fixture('no-sagas'));
      expect(code).toBe(1);
      expect(stderr).toContain('no-sagas.ts exports no saga definition (exports: answer, helper)');
      expect(stderr).toContain('export the value defineSaga() returns');
    });

    it('exits 1 listing the saga names found when --saga names none of them', async () => {
      const { code, stdout, stderr } = await run('graph', fixture('two-sagas'), '--saga', 'shipping');
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toBe('xsaga: no saga named "shipping"; the module exports: order-fulfilment, refund\n');
    });

    it('exits 1 with the error of a module that throws while imported', async () => {
      const { code, stderr } = await run('graph', fixture('throws-on-import'));
      expect(code).toBe(1);
      expect(stderr).toMatch(/^xsaga: importing .*throws-on-import\.ts failed: participant config missing: CRM_URL\n$/);
    });

    it('exits 2 listing the formats there are when --format is unknown', async () => {
      const { code, stdout, stderr } = await run('graph', fixture('trip-booking-saga'), '--format', 'dot');
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr).toContain("argument 'dot' is invalid. Allowed choices are mermaid, json, stately.");
    });

    it('exits 2 when the file argument is missing', async () => {
      const { code, stderr } = await run('graph');
      expect(code).toBe(2);
      expect(stderr).toContain("missing required argument 'file'");
    });

    it('exits 2 on an unknown command', async () => {
      const { code, stderr } = await run('draw', 'x.ts');
      expect(code).toBe(2);
      expect(stderr).toContain("unknown command 'draw'");
    });
  });

  it('exits 0 for --help and --version, writing to stdout', async () => {
    const help = await run('graph', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: xsaga graph [options] <file>');
    const version = await run('--version');
    expect(version).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' });
  });
});

describe('bin/xsaga.js', () => {
  it('runs the built command, importing a .ts module, and prints parseable JSON', async () => {
    const { code, stdout } = await spawnCli(['graph', fixture('trip-booking-saga'), '--format', 'json']);
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as StatelyStateNodeJson;
    expect(json.id).toBe('trip-booking');
    expect(json.states.Compensating?.states['charge-card']?.type).toBe('atomic');
  });

  it('exits non-zero with the message on stderr when the command fails', async () => {
    const run = await spawnCli(['graph', fixture('no-sagas')]);
    expect(run).toMatchObject({ code: 1, stderr: expect.stringContaining('exports no saga definition') });
  });
});
