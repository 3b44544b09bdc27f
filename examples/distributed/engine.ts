/**
 * The engine process of the distributed example: hosts trip sagas (snapshots in Redis) and applies
 * the outcomes that workers report, with no handlers of its own. The coordinator drives it over IPC:
 * `start` starts sagas (idempotent by saga id, so a repeated command after a crash is safe) and
 * `await` reports their settled states.
 *
 *   XSAGA_PREFIX=xsaga-demo-1 node --import tsx examples/distributed/engine.ts
 */
import { createEngine } from '../../src/index.ts';
import { trip } from '../trip-booking/saga.ts';

/** Commands the coordinator sends. */
export type EngineCommand =
  | { type: 'start'; sagas: Array<{ sagaId: string; tripId: string }> }
  | { type: 'await'; sagaIds: string[]; timeoutMs: number };

/** Messages the engine process sends back. */
export type EngineMessage =
  | { type: 'ready' }
  | { type: 'started'; sagaId: string }
  | { type: 'settled'; results: Array<{ sagaId: string; state: string }> }
  | { type: 'error'; message: string };

const prefix = process.env.XSAGA_PREFIX;
if (!prefix) throw new Error('XSAGA_PREFIX is not set: give the engine the same prefix as the workers');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

// A killed process's jobs are taken over when their lock expires: tests shorten it to recover faster.
const lockDurationMs = process.env.XSAGA_LOCK_MS ? Number(process.env.XSAGA_LOCK_MS) : undefined;
const engine = createEngine({
  redis: { connection: redisUrl, prefix, ...(lockDurationMs ? { lockDurationMs } : {}) },
  sagas: [trip],
});
engine.on('error', (error) => console.error(`[engine ${process.pid}] background error:`, error));

function reply(message: EngineMessage): void {
  process.send?.(message);
}

async function startAll(sagas: Array<{ sagaId: string; tripId: string }>): Promise<void> {
  await Promise.all(
    sagas.map(async ({ sagaId, tripId }) => {
      await engine.start(trip, { tripId, cardDeclined: false }, { sagaId });
      reply({ type: 'started', sagaId });
    }),
  );
}

async function awaitAll(sagaIds: string[], timeoutMs: number): Promise<void> {
  const results = await Promise.all(
    sagaIds.map(async (sagaId) => {
      try {
        return { sagaId, state: (await engine.waitFor(sagaId, { timeoutMs })).state as string };
      } catch (error) {
        return { sagaId, state: `unsettled (${error instanceof Error ? error.message : String(error)})` };
      }
    }),
  );
  reply({ type: 'settled', results });
}

process.on('message', (command: EngineCommand) => {
  const work = command.type === 'start' ? startAll(command.sagas) : awaitAll(command.sagaIds, command.timeoutMs);
  work.catch((error: unknown) =>
    reply({ type: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await engine.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('disconnect', () => void shutdown());
reply({ type: 'ready' });
