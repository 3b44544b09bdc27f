import type { ToolDefinition } from '../definition/types.ts';
import { InvalidStateError, SignalError, SignalNotAwaitedError } from '../errors.ts';
import { dynamicStepName, waitStepOf } from '../machines/step-of.ts';
import { type AppendEvent, SagaEvents } from '../vocabulary/events.ts';
import { SagaStates, SETTLED_STATES } from '../vocabulary/states.ts';
import { appendEvent, requireDynamic, signalEvent } from './command-events.ts';
import type { AppendedStep, AppendStep, SignalOptions, SignalResult } from './engine-api.ts';
import { whyNoAppend, whyNotWaiting } from './refusals.ts';
import type { SagaHosts } from './saga-hosts.ts';
import type { SettleWaiters } from './settle-waiters.ts';

// The commands a saga's agent or a person answering a wait sends (engine.signal, appendStep,
// complete): each goes through the one event path and turns what it did, or why it did not, into
// the command's result or typed error. Their API documentation is on SagaEngine's methods.

/** `engine.signal`: the signal applied, a repeat of an applied one, or SIGNAL_NOT_AWAITED. */
export async function deliverSignal(
  sagas: SagaHosts,
  sagaId: string,
  name: string,
  payload: unknown,
  options: SignalOptions,
): Promise<SignalResult> {
  const { signalId } = options;
  if (signalId !== undefined && (typeof signalId !== 'string' || signalId === '' || signalId.length > 256)) {
    throw new SignalError('signalId must be a non-empty string of at most 256 characters', 'signalId');
  }
  const result = await sagas.send(sagaId, ({ definition }) => signalEvent(definition, sagaId, name, payload, signalId));
  if (result.applied) return { duplicate: false, state: result.state };
  const stepName = waitStepOf(result.definition, result.before, name);
  const step = stepName === undefined ? undefined : result.before.steps[stepName];
  if (signalId !== undefined && step?.signalId === signalId) return { duplicate: true, state: result.state };
  throw new SignalNotAwaitedError(
    `saga "${sagaId}" is not waiting for signal "${name}": ${whyNotWaiting(step, result.state)}; nothing changed`,
  );
}

/** `engine.appendStep`: the appended step's outcome once it has one, or INVALID_STATE. */
export async function appendStepAndWait(
  sagas: SagaHosts,
  waiters: SettleWaiters,
  sagaId: string,
  step: AppendStep,
  timeoutMs: number | undefined,
): Promise<AppendedStep> {
  const result = await sagas.send(sagaId, ({ definition }) => appendEvent(definition, sagaId, step));
  const toolName = (result.event as AppendEvent).tool;
  // appendEvent found the tool among the saga's own.
  const tools: Record<string, ToolDefinition> = result.definition.dynamic?.tools ?? {};
  const { kind } = tools[toolName] as ToolDefinition;
  if (!result.applied) {
    throw new InvalidStateError(
      `saga "${sagaId}" cannot take tool "${toolName}" now: ${whyNoAppend(result.definition, result.before, result.state, kind)}; nothing was stored`,
    );
  }
  const name = dynamicStepName(toolName, result.before.plan?.length ?? 0);
  const view = await waiters.wait(
    sagaId,
    timeoutMs,
    // Ended, and the saga back with the agent: waiting for its next step, or settled (a failed step
    // resolves once its rollback or escalation is done, never mid-rollback).
    (v) =>
      SETTLED_STATES.includes(v.state) ||
      (v.state === SagaStates.Pending &&
        v.steps.some((s) => s.name === name && s.status !== 'running' && s.status !== 'waiting')),
  );
  const ended = view.steps.find((s) => s.name === name);
  return {
    step: name,
    status: ended?.status ?? 'running',
    state: view.state,
    ...(ended && 'result' in ended ? { result: ended.result } : {}),
    ...(ended?.error ? { error: ended.error } : {}),
  };
}

/** `engine.complete`: the dynamic saga ends Completed, or INVALID_STATE. */
export async function completeDynamicSaga(sagas: SagaHosts, sagaId: string): Promise<void> {
  const result = await sagas.send(sagaId, ({ definition }) => {
    requireDynamic(definition, sagaId, 'complete');
    return { type: SagaEvents.complete };
  });
  if (!result.applied) {
    throw new InvalidStateError(
      `saga "${sagaId}" cannot be completed now: ${whyNoAppend(result.definition, result.before, result.state)}`,
    );
  }
}
