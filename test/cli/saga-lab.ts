import { randomUUID } from 'node:crypto';
import { createEngine, type Engine } from '../../src/engine/create-engine.ts';
import type { AppendedStep } from '../../src/engine/engine-api.ts';
import { defineHandlers } from '../../src/engine/handlers.ts';
import type { SagaView } from '../../src/engine/saga-view.ts';
import { TerminalError } from '../../src/errors.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { SagaState } from '../../src/vocabulary/states.ts';
import { dropPrefix, eventually, REDIS_URL } from '../durable/redis-helpers.ts';
import { agent, approval, booking, refund } from './fixtures/operator-sagas.ts';

/** The definitions module the tests pass as `--sagas` (relative to the repository root). */
export const SAGAS_MODULE = 'test/cli/fixtures/operator-sagas.ts';

/**
 * Sagas in known states under a fresh prefix, made by real engines on Redis, for the CLI to look
 * at. `engine` runs the steps in this process (a worker and the outcome consumer), like a deployed
 * service; `close()` closes every engine it opened and drops the prefix.
 */
export class SagaLab {
  readonly prefix = `xsaga-cli-${randomUUID()}`;
  readonly redis = REDIS_URL;
  /** While true, undoing `reserve` fails for good, so a saga whose charge fails escalates. */
  refundFails = true;
  readonly #engines: Engine[] = [];
  #engine: Engine | undefined;
  /** An engine without handlers: starts sagas that must stay Pending, and reads while no worker runs. */
  #idle: Engine | undefined;

  /** The engine with handlers: steps run, outcomes are applied. Opened on first use. */
  get engine(): Engine {
    this.#engine ??= this.#open(true);
    return this.#engine;
  }

  /** A saga that completed. */
  completed(ref: string = randomUUID()): Promise<string> {
    return this.#run(ref, 'complete', 'Completed');
  }

  /** A saga whose charge failed and whose reservation was undone. */
  failed(ref: string = randomUUID()): Promise<string> {
    return this.#run(ref, 'fail', 'Failed');
  }

  /** A saga whose charge failed and whose reservation could not be undone: a person must act. */
  escalated(ref: string = randomUUID()): Promise<string> {
    return this.#run(ref, 'escalate', 'Escalated');
  }

  /** A `cli-refund` saga that completed. */
  async refunded(ref: string = randomUUID()): Promise<string> {
    const { sagaId } = await this.engine.start(refund, { ref }, { sagaId: `refund-${ref}` });
    await this.engine.waitFor(sagaId, { timeoutMs: 20_000 });
    return sagaId;
  }

  /**
   * A `cli-approval` saga parked at its wait `approval` (its step `waiting`), until a signal
   * answers it: `hold` has run, `payOut` has not.
   */
  async parked(ref: string = randomUUID()): Promise<string> {
    const { sagaId } = await this.engine.start(approval, { ref }, { sagaId: `approval-${ref}` });
    await this.#parkedAt(sagaId, 'approval');
    return sagaId;
  }

  /**
   * A `cli-agent` saga (dynamic) whose agent ran `lookup` and then appended the wait `approval`,
   * parked there (step `approval-2`). `answered` is the agent's `appendStep` of the wait: it
   * resolves with the step's outcome once a signal (or the deadline) ends the wait.
   */
  async agentParked(ref: string = randomUUID()): Promise<{ sagaId: string; answered: Promise<AppendedStep> }> {
    const { sagaId } = await this.engine.start(agent, { ref }, { sagaId: `agent-${ref}` });
    await this.engine.appendStep(sagaId, { tool: 'lookup', args: { q: ref } });
    const answered = this.engine.appendStep(sagaId, { wait: 'approval' });
    await this.#parkedAt(sagaId, 'approval-2');
    return { sagaId, answered };
  }

  /**
   * A saga left Pending: started by an engine without handlers while no worker runs on the prefix,
   * so its first step job waits. Close `engine` first if it was opened.
   */
  async pending(ref: string = randomUUID()): Promise<string> {
    if (this.#engine) throw new Error('a worker runs on this prefix: close it before making Pending sagas');
    this.#idle ??= this.#open(false);
    const { sagaId } = await this.#idle.start(booking, { ref, outcome: 'complete' }, { sagaId: `booking-${ref}` });
    return sagaId;
  }

  /** Closes the engine with handlers (its sagas stay in Redis). */
  async stopWorker(): Promise<void> {
    await this.#engine?.close();
    this.#engine = undefined;
  }

  /** The saga as the engine reports it, read without starting a worker (Pending sagas stay Pending). */
  get(sagaId: string): Promise<SagaView> {
    if (this.#engine) return this.#engine.get(sagaId);
    this.#idle ??= this.#open(false);
    return this.#idle.get(sagaId);
  }

  /** Waits until the saga is in `state`, read from Redis by the lab's engine. */
  async until(sagaId: string, state: SagaState): Promise<void> {
    await eventually(async () => (await this.engine.get(sagaId)).state === state, 20_000);
  }

  async close(): Promise<void> {
    for (const engine of this.#engines.splice(0)) await engine.close();
    this.#engine = undefined;
    this.#idle = undefined;
    await dropPrefix(this.prefix);
  }

  async #run(ref: string, outcome: 'complete' | 'fail' | 'escalate', expected: SagaState): Promise<string> {
    const { sagaId } = await this.engine.start(booking, { ref, outcome }, { sagaId: `booking-${ref}` });
    const view = await this.engine.waitFor(sagaId, { timeoutMs: 20_000 });
    if (view.state !== expected) throw new Error(`saga ${sagaId} ended ${view.state}, expected ${expected}`);
    return sagaId;
  }

  /** Waits until the saga's `step` is `waiting`: a saga reaches its wait asynchronously. */
  async #parkedAt(sagaId: string, step: string): Promise<void> {
    await eventually(async () => {
      const view = await this.engine.get(sagaId);
      return view.steps.some((s) => s.name === step && s.status === 'waiting');
    }, 20_000);
  }

  #open(withHandlers: boolean): Engine {
    const engine = createEngine({
      redis: { connection: this.redis, prefix: this.prefix },
      sagas: [booking, refund, approval, agent],
      // Escalations are what these sagas are made for: no warning lines in the test output.
      logger: silentLogger,
      ...(withHandlers ? { handlers: this.#handlers() } : {}),
    });
    this.#engines.push(engine);
    return engine;
  }

  #handlers() {
    const done = async () => ({ ok: true });
    return {
      [booking.name]: defineHandlers(booking, {
        reserve: {
          run: async (ctx) => ({ reservation: `R-${ctx.input.ref}` }),
          compensate: async (ctx) => {
            if (ctx.input.outcome === 'escalate' && this.refundFails) {
              throw new TerminalError('the reservation system refused the cancellation');
            }
          },
        },
        notify: { run: done },
        charge: {
          run: async (ctx) => {
            if (ctx.input.outcome !== 'complete') throw new TerminalError(`card declined for ${ctx.input.ref}`);
            return { charge: `C-${ctx.input.ref}` };
          },
          compensate: done,
        },
      }),
      [refund.name]: defineHandlers(refund, { payBack: { run: done, compensate: done } }),
      [approval.name]: defineHandlers(approval, {
        hold: { run: async (ctx) => ({ hold: `H-${ctx.input.ref}` }), compensate: done },
        payOut: { run: done },
      }),
      [agent.name]: agent.handlers,
    };
  }
}
