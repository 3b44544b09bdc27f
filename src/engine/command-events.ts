import type { AnySagaDefinition } from '../definition/types.ts';
import { InputError, InvalidStateError, SignalError } from '../errors.ts';
import { waitOf } from '../machines/step-of.ts';
import { type AppendEvent, SagaEvents, type SignalEvent } from '../vocabulary/events.ts';
import { parseStorable } from './parse-storable.ts';

// The events of the commands whose arguments are checked against the saga's own definition: made
// inside the event path (SagaHosts.send), once the saga is hydrated, so a command reads it once.
// Each throws the command's typed error before anything changes.

/**
 * `engine.signal`'s event: the wait must exist (`SIGNAL_INVALID`, listing the saga's waits), the
 * payload must fit its schema and the JSON rule (`SIGNAL_INVALID` naming the field). The wait's
 * `reject` is the user's code: decided here, so the machine stays free of it.
 */
export function signalEvent(
  definition: AnySagaDefinition,
  sagaId: string,
  name: string,
  payload: unknown,
  signalId: string | undefined,
): SignalEvent {
  const wait = waitOf(definition, name);
  if (!wait?.signal) {
    const waits = definition.waits
      .concat(Object.keys(definition.dynamic?.tools ?? {}))
      .filter((w) => waitOf(definition, w)?.type === 'signal')
      .map((w) => `"${w}"`);
    throw new SignalError(
      `saga "${sagaId}" ("${definition.name}") has no wait named "${String(name)}"; ${waits.length > 0 ? `its waits are ${waits.join(', ')}` : 'it has no waits'}`,
      'name',
    );
  }
  const stored = parseStorable(
    wait.signal,
    payload,
    `signal "${name}" for saga "${sagaId}"`,
    'payload',
    (message, path, cause) => new SignalError(message, path, { cause }),
  );
  return {
    type: SagaEvents.signal,
    name,
    payload: stored,
    ...(signalId === undefined ? {} : { signalId }),
    ...(wait.reject?.(stored) === true ? { rejected: true as const } : {}),
  };
}

/**
 * `engine.appendStep`'s event: the saga must be dynamic (`INVALID_STATE`), the tool or wait one of
 * its own (`INPUT_INVALID`, listing them), the arguments must fit the tool's schema and the JSON
 * rule (`INPUT_INVALID` naming the field).
 */
export function appendEvent(
  definition: AnySagaDefinition,
  sagaId: string,
  step: { tool: string; args?: unknown } | { wait: string },
): AppendEvent {
  const tools = requireDynamic(definition, sagaId, 'appendStep');
  const asWait = typeof step === 'object' && step !== null && 'wait' in step;
  const wanted = asWait ? step.wait : (step as { tool?: unknown } | undefined)?.tool;
  const tool = typeof wanted === 'string' ? tools[wanted] : undefined;
  if (!tool || (tool.wait !== undefined) !== asWait) {
    const kind = asWait ? 'wait' : 'tool';
    const known = Object.values(tools).filter((t) => (t.wait !== undefined) === asWait);
    throw new InputError(
      `${kind} "${String(wanted)}" is not a ${kind} of saga "${definition.name}"; ${
        known.length > 0 ? `its ${kind}s are ${known.map((t) => `"${t.name}"`).join(', ')}` : `it has no ${kind}s`
      }`,
      kind,
    );
  }
  const args = parseStorable(
    tool.args,
    asWait ? {} : (step as { args?: unknown }).args,
    `args of tool "${tool.name}" for saga "${sagaId}"`,
    'args',
    (message, path, cause) => new InputError(message, path, { cause }),
  );
  return { type: SagaEvents.append, tool: tool.name, args };
}

/** A dynamic saga's tools, for its agent's commands; `INVALID_STATE` for a saga with defined steps. */
export function requireDynamic(definition: AnySagaDefinition, sagaId: string, command: string) {
  if (!definition.dynamic) {
    throw new InvalidStateError(
      `saga "${sagaId}" ("${definition.name}") has defined steps: ${command} is for sagas made by defineDynamicSaga`,
    );
  }
  return definition.dynamic.tools;
}
