import { randomUUID } from 'node:crypto';
import { afterEach } from 'vitest';
import { createEngine, type Engine, type EngineOptions } from '../../src/index.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';
import type { Gate } from './deferred.ts';

/** The two backends every engine specification runs on. */
export const BACKENDS = ['embedded', 'redis'] as const;
export type Backend = (typeof BACKENDS)[number];

/**
 * Opens engines on either backend for a test file and cleans up after each test: gates still
 * closed are opened first (a failed test must not leave close() waiting on a held handler), then
 * each engine is closed and its Redis prefix dropped.
 */
export function engineFixture() {
  const opened: Array<{ engine: Engine; prefix?: string }> = [];
  const gates: Gate[] = [];
  afterEach(async () => {
    for (const gate of gates.splice(0)) gate.release.resolve();
    for (const { engine, prefix } of opened.splice(0)) {
      await engine.close();
      if (prefix) await dropPrefix(prefix);
    }
  });
  return {
    /** An engine on `backend` (Redis: a fresh prefix) with these options. */
    open(backend: Backend, options: EngineOptions): Engine {
      if (backend === 'redis') {
        const prefix = `xsaga-test-${randomUUID()}`;
        const engine = createEngine({ ...options, redis: { connection: REDIS_URL, prefix } });
        opened.push({ engine, prefix });
        return engine;
      }
      const engine = createEngine(options);
      opened.push({ engine });
      return engine;
    },
    /** Opened after the test, whatever happened. */
    track(gate: Gate): Gate {
      gates.push(gate);
      return gate;
    },
  };
}

/** Each step's status, by step name: what a view says of where every step stands. */
export const statuses = (view: { steps: readonly { name: string; status: string }[] }) =>
  Object.fromEntries(view.steps.map((s) => [s.name, s.status]));
