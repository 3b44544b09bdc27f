import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REDIS_URL } from '../durable/redis-helpers.ts';
import { runInProcess } from './run-in-process.ts';

/** Usage and connection errors: exit 2, a reason on stderr, nothing on stdout, nothing opened. */
describe('xsaga usage and connection errors', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each([
    [['list', '--bogus'], "error: unknown option '--bogus'"],
    [
      ['list', '--state', 'Running'],
      'Allowed choices are Started, Pending, Compensating, Completed, Failed, Escalated.',
    ],
    [['list', '--limit', '0'], "option '--limit <count>' argument '0' is invalid. use a whole number from 1 to 10000."],
    [['list', '--limit', 'ten'], 'use a whole number from 1 to 10000.'],
    [['show'], "error: missing required argument 'sagaId'"],
    [['show', 'x', '--prefix', 'acme:prod'], 'prefix "acme:prod" is not usable'],
    [['stats', '--redis', 'localhost:6379'], 'is not a redis:// or rediss:// URL.'],
    [['stats', '--redis', 'not a url'], '"not a url" is not a URL; use redis://host:port (or rediss:// for TLS).'],
    [['resume', 'x'], "error: required option '--sagas <module>' not specified"],
    [['signal', 'x', 'approval'], "error: required option '--sagas <module>' not specified"],
    [['signal', 'x', '--sagas', 'sagas.ts'], "error: missing required argument 'wait'"],
    [['frobnicate'], "error: unknown command 'frobnicate'"],
  ])('exits 2 for %j', async (argv, reason) => {
    const { code, stdout, stderr } = await runInProcess(...argv);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toContain(reason);
    expect(stderr).toContain('(run with --help for usage)');
  });

  it('exits 2 at once, with one line naming the Redis and the reason, when Redis cannot be reached', async () => {
    const started = Date.now();
    const run = await runInProcess('show', 'any', '--redis', 'redis://127.0.0.1:1');
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'xsaga: cannot reach Redis at redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1; ' +
        'check --redis (or REDIS_URL) and that Redis is running\n',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('masks the password of the Redis URL in messages', async () => {
    const { code, stderr } = await runInProcess('stats', '--redis', 'redis://ops:s3cret@127.0.0.1:1/2');
    expect(code).toBe(2);
    expect(stderr).toContain('cannot reach Redis at redis://ops:***@127.0.0.1:1/2:');
    expect(stderr).not.toContain('s3cret');
  });

  it('exits 2 when Redis refuses the store its commands (here an ACL user without key access)', async () => {
    const user = `xsaga-cli-${randomUUID()}`;
    const admin = new Redis(REDIS_URL);
    // May connect and answer the ready check, nothing more.
    await admin.call('ACL', 'SETUSER', user, 'reset', 'on', '>pw', '-@all', '+ping', '+info');
    try {
      const url = new URL(REDIS_URL);
      url.username = user;
      url.password = 'pw';
      const { code, stdout, stderr } = await runInProcess('show', 'any', '--redis', url.href);
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr).toMatch(/^xsaga: the saga store could not load saga "any": NOPERM .*\n$/);
      expect(stderr).not.toContain(':pw@');
    } finally {
      await admin.call('ACL', 'DELUSER', user);
      await admin.quit();
    }
  });

  it('connects to REDIS_URL when --redis is not given', async () => {
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:1');
    const { code, stderr } = await runInProcess('list');
    expect(code).toBe(2);
    expect(stderr).toContain('cannot reach Redis at redis://127.0.0.1:1:');
  });

  it('lists the commands and the exit codes in --help', async () => {
    const { code, stdout } = await runInProcess('--help');
    expect(code).toBe(0);
    for (const command of ['list', 'show', 'resume', 'resolve', 'cancel', 'signal', 'stats', 'recover', 'graph']) {
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect(stdout).toContain('Exit codes:\n  0  done\n  1  refused');
  });
});
