import type { AnySagaDefinition } from '../definition/types.ts';
import type { SagaContext, StepJobRequest } from '../machines/context.ts';
import { stepOf } from '../machines/step-of.ts';
import type { TraceCarrier } from '../observability/instrumentation.ts';
import { idempotencyKeyOf, stepJobId } from '../transport/job-id.ts';
import type { StepJob } from '../transport/step-queue.ts';

/**
 * The job a saga's machine asked for, with everything a worker needs and no access to the store:
 * the input, the outputs of completed steps, and for a compensation the output it undoes. Undefined
 * for a request the definition has no policy for (a compensation of a non-compensable step).
 * `trace` is the saga's trace context, carried to the worker when tracing is set up.
 */
export function buildStepJob(
  definition: AnySagaDefinition,
  context: SagaContext,
  request: StepJobRequest,
  trace?: TraceCarrier,
): StepJob | undefined {
  const step = stepOf(definition, context, request.step);
  const { tool, args } = context.steps[request.step] ?? {};
  const policy = request.direction === 'run' ? step?.run : step?.compensation;
  if (!step || !policy) return undefined;
  return {
    id: stepJobId(request.sagaId, request.step, request.direction, request.round),
    sagaId: request.sagaId,
    sagaName: definition.name,
    sagaVersion: definition.version,
    step: request.step,
    direction: request.direction,
    round: request.round,
    idempotencyKey: idempotencyKeyOf(request.sagaId, request.step, request.direction),
    input: context.input,
    results: resultsOf(definition, context, request.direction === 'run'),
    ...(request.direction === 'compensate' ? { result: context.steps[request.step]?.result } : {}),
    policy,
    ...(tool === undefined ? {} : { tool, args }),
    ...(request.direction === 'run' && step.verify === 'always' ? { verify: 'always' as const } : {}),
    ...(request.direction === 'compensate' && context.steps[request.step]?.inDoubt ? { inDoubt: true as const } : {}),
    ...(trace ? { trace } : {}),
  };
}

/**
 * Outputs of the completed steps by step name, and for each parallel group with a completed member
 * its members' outputs by member name, under the group's name (`ctx.results.reserve.hotel`).
 */
export function resultsOf(
  definition: AnySagaDefinition,
  context: SagaContext,
  forward: boolean,
): Record<string, unknown> {
  const results: Record<string, unknown> = {};
  // Going forward, a group member undone as surplus no longer counts; a compensation sees every
  // step that completed, as it always has.
  for (const name of context.completed) {
    if (!forward || context.steps[name]?.status === 'completed') results[name] = context.steps[name]?.result;
  }
  for (const group of definition.groups) {
    const members = group.members.filter((member) => context.steps[member]?.status === 'completed');
    if (members.length > 0) results[group.name] = Object.fromEntries(members.map((m) => [m, results[m]]));
  }
  return results;
}
