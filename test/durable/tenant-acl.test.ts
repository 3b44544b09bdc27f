import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, createWorker, type StepHandler } from '../../src/index.ts';
import { createRedisKeys } from '../../src/persistence/redis-keys.ts';
import { createRedisStore } from '../../src/persistence/redis-store.ts';
import { OwnRedis } from './redis-server.ts';

const PASSWORD = 'tenant-secret';

/**
 * The per-tenant ACL rule the README documents, as `ACL SETUSER <user> ...` arguments. Found by
 * starting from `-@all` and adding what the ACL log showed was denied, then taking out what let a
 * tenant see or disturb the rest of the server:
 *
 * - `~<prefix>:*`: every key of the tenant, the store's and BullMQ's (`<prefix>:bull:*`) alike, and
 *   no other tenant's (a prefix cannot contain `:`).
 * - `resetchannels &<prefix>:*` and `+publish +subscribe`: the one pub/sub channel xsaga uses,
 *   `<prefix>:settled` (the save script publishes each settled saga; `engine.waitFor` subscribes).
 *   BullMQ uses none. Not `+@pubsub`: PUBSUB CHANNELS would list every tenant's channels.
 * - `+@read +@write`: what the Lua scripts of the store and BullMQ call (Redis checks each command and
 *   key a script touches against the caller's ACL); `-@dangerous` then drops the keyless ones that
 *   reach every tenant (FLUSHALL, FLUSHDB, KEYS, SWAPDB, ...).
 * - `+eval +evalsha`: how ioredis runs both sets of scripts (no SCRIPT LOAD, no functions).
 * - `+info`: ioredis' ready check and BullMQ's version check (INFO is in @dangerous: granted alone).
 * - `+client|setname`: BullMQ names its connections.
 * - `-scan -randomkey -dbsize`: in @read, keyless, and they would list or count other tenants' keys.
 */
function tenantAclRule(prefix: string): string[] {
  return [
    'reset',
    'on',
    `>${PASSWORD}`,
    `~${prefix}:*`,
    'resetchannels',
    `&${prefix}:*`,
    '-@all',
    '+@read',
    '+@write',
    '-@dangerous',
    '+eval',
    '+evalsha',
    '+info',
    '+client|setname',
    '+publish',
    '+subscribe',
    '-scan',
    '-randomkey',
    '-dbsize',
  ];
}

/**
 * Two tenants whose names overlapped under the old layout: `acme`'s BullMQ keys were `acme-bull:*`,
 * the store namespace of tenant `acme-bull`.
 */
const TENANTS = ['acme', 'acme-bull'] as const;
type Tenant = (typeof TENANTS)[number];

/** The ACL LOG entries (denials) as "reason object" strings. */
async function aclDenials(admin: Redis): Promise<string[]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries.map((entry) => {
    const fields = Object.fromEntries(
      Array.from({ length: entry.length / 2 }, (_, i) => [entry[2 * i], entry[2 * i + 1]]),
    );
    return `${fields.username}: ${fields.reason} ${fields.object}`;
  });
}

describe('tenants separated by Redis ACLs, one key pattern each', () => {
  let server: OwnRedis;
  let admin: Redis;
  const users = new Map<Tenant, Redis>();
  /** What each test started (workers, engines, stores), closed in order after the last test. */
  const running: Array<() => Promise<void>> = [];
  const sagaOf = new Map<Tenant, string>();

  const urlOf = (tenant: Tenant) => `redis://${tenant}:${PASSWORD}@127.0.0.1:${server.port}`;
  const other = (tenant: Tenant): Tenant => (tenant === 'acme' ? 'acme-bull' : 'acme');

  beforeAll(async () => {
    server = await OwnRedis.start();
    admin = new Redis(server.url);
    for (const tenant of TENANTS) {
      await admin.call('ACL', 'SETUSER', tenant, ...tenantAclRule(tenant));
      users.set(tenant, new Redis(urlOf(tenant)));
    }
  });
  afterAll(async () => {
    for (const close of running) await close();
    for (const user of users.values()) user.disconnect();
    admin?.disconnect();
    await server?.stop();
  });

  it('runs sagas end to end for each tenant, as that tenant, with nothing denied', async () => {
    const errors: string[] = [];
    const participants = new Map<Tenant, Participants>();
    for (const tenant of TENANTS) {
      const tenantParticipants = new Participants();
      participants.set(tenant, tenantParticipants);
      const handlers = tripHandlers(tenantParticipants);
      // One transient failure, so BullMQ's retry path (backoff, delayed set) runs under the ACL too.
      let flightAttempts = 0;
      const flaky: StepHandler = {
        ...handlers.reserveFlight,
        run: (ctx) => {
          if (++flightAttempts === 1) throw new Error('airline busy');
          return handlers.reserveFlight.run(ctx as never);
        },
      } as StepHandler;
      // A short lock, so BullMQ's stalled-job check (a script of its own) also runs during the test.
      const redis = { connection: urlOf(tenant), prefix: tenant, lockDurationMs: 1_000 };
      const engine = createEngine({ redis, sagas: [trip] });
      engine.on('error', (error) => errors.push(`${tenant} engine: ${String(error)}`));
      const worker = createWorker({
        ...redis,
        handlers: { [trip.name]: { ...handlers, reserveFlight: flaky } },
        onError: (error) => errors.push(`${tenant} worker: ${String(error)}`),
      });
      running.push(
        () => worker.close(),
        () => engine.close(),
      );
      // A process that only waits, on a store of its own: told by the save that settles the saga.
      const waiterStore = createRedisStore({ connection: urlOf(tenant), prefix: tenant });
      const waiter = createEngine({ store: waiterStore, sagas: [trip] });
      running.push(
        () => waiter.close(),
        () => waiterStore.close(),
      );

      const completed = await engine.start(trip, { tripId: `${tenant}-1` });
      const watched = waiter.waitFor(completed.sagaId, { timeoutMs: 20_000 });
      const rolledBack = await engine.start(trip, { tripId: `${tenant}-2`, cardDeclined: true });
      expect((await engine.waitFor(completed.sagaId, { timeoutMs: 20_000 })).state).toBe('Completed');
      expect((await watched).state).toBe('Completed');
      expect(await admin.call('PUBSUB', 'NUMSUB', `${tenant}:settled`)).toEqual([`${tenant}:settled`, 2]);
      expect((await engine.waitFor(rolledBack.sagaId, { timeoutMs: 20_000 })).state).toBe('Failed');
      expect((await engine.list({ state: 'Completed' })).items.map((v) => v.sagaId)).toEqual([completed.sagaId]);
      sagaOf.set(tenant, completed.sagaId);
    }
    // Let the stalled-job checks run at least once.
    await new Promise((r) => setTimeout(r, 1_500));

    expect(errors).toEqual([]);
    expect(await aclDenials(admin)).toEqual([]);
    expect(participants.get('acme')?.bookings.size).toBe(4);
    expect(participants.get('acme-bull')?.bookings.size).toBe(4);
    // Every key on the server belongs to exactly one tenant.
    const keys = (await admin.keys('*')).sort();
    const owners = keys.map((key) => TENANTS.filter((tenant) => key.startsWith(`${tenant}:`)));
    expect(owners.every((found) => found.length === 1)).toBe(true);
    expect(keys.some((key) => key.startsWith('acme:bull:'))).toBe(true);
    expect(keys.some((key) => key.startsWith('acme-bull:bull:'))).toBe(true);
  }, 60_000);

  it("runs every path of the store's scripts as a tenant: retention, a record of the old layout, quarantine", async () => {
    const tenant = 'acme';
    const keys = createRedisKeys(tenant);
    const store = createRedisStore({ connection: urlOf(tenant), prefix: tenant, retention: { finalTtlSeconds: 60 } });
    running.push(() => store.close());
    const at = Date.now();
    const record = (sagaId: string) => ({
      sagaId,
      name: 'acl-check',
      version: 1,
      state: 'Started' as const,
      snapshot: { sagaId },
      revision: 1,
      createdAt: at,
      updatedAt: at,
    });
    const entry = (sagaId: string, from: string, to: string) => ({ sagaId, at, from, to, event: 'e' });
    // A saga the version before the snapshot key wrote: its snapshot in the hash.
    await admin.hset(keys.saga('acl-old'), { ...record('acl-old'), snapshot: '{}', version: '1', revision: '1' });
    await admin.rpush(keys.log('acl-old'), `{"at":${at},"f":"","t":"Started","e":"e"}`);

    await store.create(record('acl-new'), entry('acl-new', '', 'Started'));
    for (const sagaId of ['acl-new', 'acl-old']) {
      await store.save(
        { sagaId, expectedRevision: 1, state: 'Completed', snapshot: { done: true }, updatedAt: at },
        entry(sagaId, 'Started', 'Completed'),
      );
      expect(await store.loadSettled(sagaId)).toMatchObject({ record: { state: 'Completed' }, history: [{}, {}] });
      expect(await admin.ttl(keys.snapshot(sagaId))).toBeGreaterThan(0);
    }
    await store.list({ name: 'acl-check' });
    expect(await store.quarantine('acl-new', entry('acl-new', '', 'Quarantined'))).toBe(true);

    expect(await aclDenials(admin)).toEqual([]);
  });

  it.each(TENANTS)("refuses tenant %s every key of the other tenant, store's and BullMQ's", async (tenant) => {
    const user = users.get(tenant) as Redis;
    const theirs = other(tenant);
    const theirSaga = sagaOf.get(theirs) as string;
    const theirKeys = createRedisKeys(theirs);
    const noPerm = /NOPERM/;

    await expect(user.hgetall(theirKeys.saga(theirSaga))).rejects.toThrow(noPerm);
    await expect(user.lrange(theirKeys.log(theirSaga), 0, -1)).rejects.toThrow(noPerm);
    await expect(user.zrange(theirKeys.all, 0, -1)).rejects.toThrow(noPerm);
    await expect(user.xrange(`${theirs}:bull:xsaga-steps:events`, '-', '+')).rejects.toThrow(noPerm);
    await expect(user.zrange(`${theirs}:bull:xsaga-steps:completed`, 0, -1)).rejects.toThrow(noPerm);
    await expect(user.del(theirKeys.saga(theirSaga))).rejects.toThrow(noPerm);
    // Scripts are checked key by key, declared or not.
    await expect(user.eval("return redis.call('zrange', KEYS[1], 0, -1)", 1, theirKeys.all)).rejects.toThrow(noPerm);
    await expect(user.eval(`return redis.call('zrange', '${theirKeys.all}', 0, -1)`, 0)).rejects.toThrow(
      /can't access/,
    );
    // Nothing that lists, counts or wipes keys across tenants.
    await expect(user.scan('0')).rejects.toThrow(noPerm);
    await expect(user.keys('*')).rejects.toThrow(noPerm);
    await expect(user.randomkey()).rejects.toThrow(noPerm);
    await expect(user.dbsize()).rejects.toThrow(noPerm);
    await expect(user.flushall()).rejects.toThrow(noPerm);
    // And its own keys it reads.
    expect(await user.zrange(createRedisKeys(tenant).all, 0, -1)).toContain(sagaOf.get(tenant));
  });

  it.each(TENANTS)("refuses tenant %s the other tenant's settle channel, and listing channels", async (tenant) => {
    const user = users.get(tenant) as Redis;
    const theirs = createRedisKeys(other(tenant)).settled;
    const noPerm = /NOPERM/;
    const subscriber = user.duplicate();
    try {
      await expect(subscriber.subscribe(theirs)).rejects.toThrow(noPerm);
      await expect(subscriber.psubscribe('*')).rejects.toThrow(noPerm);
      await expect(user.publish(theirs, 'forged-saga')).rejects.toThrow(noPerm);
      await expect(user.eval(`return redis.call('publish', '${theirs}', 'forged-saga')`, 0)).rejects.toThrow(
        /can't run this command|channel/,
      );
      await expect(user.call('PUBSUB', 'CHANNELS')).rejects.toThrow(noPerm);
      // Its own channel it may use.
      expect(await subscriber.subscribe(createRedisKeys(tenant).settled)).toBe(1);
    } finally {
      subscriber.disconnect();
    }
  });
});
