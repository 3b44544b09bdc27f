import { type Position, positionsOf } from '../definition/positions.ts';
import { pivotIndexOf } from '../definition/step-kinds.ts';
import type { AnySagaDefinition, GroupDefinition, StepDefinition, WaitDefinition } from '../definition/types.ts';
import {
  type Direction,
  SagaEvents,
  type SignalEvent,
  type StepDoneEvent,
  type StepFailedEvent,
} from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import { buildDynamicMachine } from './build-dynamic-machine.ts';
import type { SagaContext, StepJobRequest, StepState } from './context.ts';
import {
  type Args,
  cancelEscalatedRun,
  failedPatch,
  failureFromEscalation,
  inDoubt,
  initialContext,
  jobRound,
  markCancelled,
  markCompensated,
  markCompensationFailed,
  NEXT_COMPENSATION,
  nextRound,
  owedCompensations,
  patchStep,
  priorAttempts,
  recordResolution,
  sagaMachineSetup,
  skipPassedOver,
  startedState,
  update,
  waitErrors,
  waitEscalated,
  waitFailed,
  waitPassed,
} from './machine-parts.ts';

export { inFlight, jobRound, NEXT_COMPENSATION, parkedAt } from './machine-parts.ts';

/**
 * Builds the XState v5 machine of a saga definition. Pure: no I/O, no clock.
 *
 * Top-level states are the saga's public status (`Started`, `Pending`, `Compensating`, `Completed`,
 * `Failed`, `Escalated`); `Pending` has one substate per step and `Compensating` one per compensable
 * step. Rollback order is data: `Compensating` enters through {@link NEXT_COMPENSATION}, which picks
 * the newest completed, not yet compensated step from `context.completed` (the order steps really
 * completed in), so the graph stays finite and a diagram still shows every compensation.
 *
 * The pivot (see `SagaDefinition.pivot`) splits the steps: a step up to it that fails for good
 * rolls the saga back; a step after it escalates as a forward failure, and `cancel` is refused once
 * the pivot has started, because nothing from there on can be undone.
 *
 * @example
 * ```ts
 * const machine = buildSagaMachine(trip);
 * console.log(JSON.stringify(machine.toJSON())); // paste into the Stately visualizer
 * ```
 */
export function buildSagaMachine(definition: AnySagaDefinition): SagaMachine {
  // A dynamic saga's steps are data, appended at run time: its machine is built another way.
  if (definition.dynamic) return buildDynamicMachine(definition) as unknown as SagaMachine;
  return buildDefinedMachine(definition);
}

/** The machine of a saga whose steps its definition lists (see buildSagaMachine). */
function buildDefinedMachine(definition: AnySagaDefinition) {
  const steps = definition.steps;
  const id = definition.name;
  const top = (state: string) => `#${id}.${state}`;
  const compensable = steps.filter((s) => s.compensation !== undefined);
  const compensates = new Set(compensable.map((s) => s.name));
  const pivotIndex = pivotIndexOf(definition);
  const indexOf = (name: string) => steps.find((s) => s.name === name)?.index ?? -1;
  const waits = new Set(steps.filter((s) => s.wait !== undefined).map((s) => s.name));

  /**
   * The next step to undo: one whose run ended in doubt (the step whose failure started the
   * rollback, so the newest), else the newest completed step with a compensation not undone yet.
   */
  const nextCompensation = (context: SagaContext): string | undefined => owedCompensations(context, compensates)[0];

  const isFor =
    (step: StepDefinition, direction: Direction) =>
    ({ context, event }: Args) =>
      (event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed) &&
      event.step === step.name &&
      event.direction === direction &&
      event.round === jobRound(context, step.name, direction);

  const jobInput =
    (step: StepDefinition, direction: Direction) =>
    ({ context }: { context: SagaContext }): StepJobRequest => ({
      sagaId: context.sagaId,
      step: step.name,
      direction,
      round: jobRound(context, step.name, direction),
    });

  /** What a state that runs one of a step's jobs does: marks the step, and invokes the job. */
  const runsJob = (step: StepDefinition, direction: Direction) => ({
    entry: update(({ context }) => ({
      steps: patchStep(context, step.name, { status: direction === 'run' ? 'running' : 'compensating' }),
    })),
    invoke: { src: 'stepJob' as const, input: jobInput(step, direction) },
  });

  const markRunCompleted = (step: StepDefinition) =>
    update(({ context, event }) => {
      const e = event as StepDoneEvent;
      // A fresh record: what an earlier, escalated attempt left (its error, in doubt) no longer holds.
      const done: StepState = {
        status: 'completed',
        attempts: priorAttempts(context, step.name) + e.attempts,
        compensationAttempts: context.steps[step.name]?.compensationAttempts ?? 0,
        result: e.result,
      };
      if (e.verified) done.verified = true;
      return {
        steps: { ...context.steps, [step.name]: done },
        completed: [...context.completed, step.name],
      };
    });

  /** The step failed for good; `in_doubt` when it may have taken effect and is compensated in doubt. */
  const markRunFailed = (step: StepDefinition, status: 'failed' | 'in_doubt') =>
    update(({ context, event }) => {
      const e = event as StepFailedEvent;
      return {
        steps: patchStep(context, step.name, failedPatch(e, status, priorAttempts(context, step.name))),
        failure: {
          reason: context.cancelRequested ? ('cancelled' as const) : ('failed' as const),
          step: step.name,
          error: e.error,
        },
      };
    });

  /**
   * A person must decide about a step's run: it failed for good after the pivot (the saga cannot
   * go back), or it ended in doubt and its kind or `inDoubt: 'escalate'` says not to guess.
   */
  const markForwardFailure = (step: StepDefinition) =>
    update(({ context, event }) => {
      const e = event as StepFailedEvent;
      const steps = patchStep(context, step.name, failedPatch(e, 'failed', priorAttempts(context, step.name)));
      return {
        steps,
        escalation: {
          direction: 'run' as const,
          ...(e.inDoubt ? { inDoubt: true as const } : {}),
          step: step.name,
          error: e.error,
          uncompensated: step.index <= pivotIndex ? owedCompensations({ ...context, steps }, compensates) : [],
        },
      };
    });

  /**
   * The substate that runs one step's compensation: back to the chooser (NEXT_COMPENSATION) when it
   * is done, Escalated when it runs out of retries. Used by Compensating, and by a parallel group
   * that undoes its in-doubt members before it moves on.
   */
  const compensationNode = (step: StepDefinition) => ({
    ...runsJob(step, 'compensate'),
    on: {
      [SagaEvents.stepDone]: { guard: isFor(step, 'compensate'), target: NEXT_COMPENSATION, actions: markCompensated },
      [SagaEvents.stepFailed]: {
        guard: isFor(step, 'compensate'),
        target: top(SagaStates.Escalated),
        actions: markCompensationFailed((context) => owedCompensations(context, compensates)),
      },
    },
  });

  const cancelRequest = {
    [SagaEvents.cancel]: {
      guard: ({ context }: Args) => !context.cancelRequested,
      actions: update(() => ({ cancelRequested: true })),
    },
  };

  /** The `Pending` substate of one step: its run job, and where each outcome leads. */
  const stepNode = (step: StepDefinition, forward: string) => {
    const cancellable = step.index < pivotIndex;
    const rollsBack = step.index <= pivotIndex;
    const done = { guard: isFor(step, 'run'), target: forward, actions: markRunCompleted(step) };
    return {
      // The kind, for diagrams and tools: the pivot and the steps that cannot roll back stand out.
      ...(step.kind === 'compensable' ? {} : { tags: [step.kind] }),
      ...(step.kind === 'pivot' ? { description: 'the pivot: once it completes, the saga only goes forward' } : {}),
      ...runsJob(step, 'run'),
      on: {
        [SagaEvents.stepDone]: cancellable
          ? [
              {
                guard: (args: Args) => args.context.cancelRequested && isFor(step, 'run')(args),
                target: top(SagaStates.Compensating),
                actions: [markRunCompleted(step), markCancelled],
              },
              done,
            ]
          : done,
        [SagaEvents.stepFailed]: rollsBack
          ? [
              // In doubt, a query changed nothing: its failure is as definite as any other.
              ...(step.kind === 'query'
                ? []
                : [
                    {
                      guard: (args: Args) => inDoubt(args) && isFor(step, 'run')(args),
                      ...(step.inDoubt === 'compensate'
                        ? { target: top(SagaStates.Compensating), actions: markRunFailed(step, 'in_doubt') }
                        : { target: top(SagaStates.Escalated), actions: markForwardFailure(step) }),
                    },
                  ]),
              {
                guard: isFor(step, 'run'),
                target: top(SagaStates.Compensating),
                actions: markRunFailed(step, 'failed'),
              },
            ]
          : { guard: isFor(step, 'run'), target: top(SagaStates.Escalated), actions: markForwardFailure(step) },
        // Up to the pivot a cancel is honoured at the step's outcome; from the pivot on it is
        // refused, because a saga that may have passed its point of no return cannot roll back.
        ...(cancellable ? cancelRequest : {}),
      },
    };
  };

  /**
   * The `Pending` substate of a wait or sleep: the saga is parked (no job runs; the engine keeps its
   * deadline in the timer set) until a signal for it, or its deadline, whichever is applied first.
   */
  const waitNode = (step: StepDefinition, wait: WaitDefinition, forward: string) => {
    const { deadlineError, rejectedError } = waitErrors(step.name, wait.type);
    const isSignal = ({ event }: Args) => event.type === SagaEvents.signal && event.name === step.name;
    const atDeadline =
      wait.onTimeout === 'continue'
        ? { target: forward, actions: waitPassed(() => step.name) }
        : wait.onTimeout === 'compensate'
          ? { target: top(SagaStates.Compensating), actions: waitFailed(() => step.name, deadlineError) }
          : {
              target: top(SagaStates.Escalated),
              actions: waitEscalated(
                () => step.name,
                deadlineError,
                (context) => (step.index <= pivotIndex ? owedCompensations(context, compensates) : []),
              ),
            };
    return {
      tags: [wait.type === 'sleep' ? 'sleep' : 'wait'],
      description: describeWait(step.name, wait),
      // A fresh record: what an earlier, escalated round left (its deadline error) no longer holds.
      entry: update(({ context }) => ({
        steps: { ...context.steps, [step.name]: { status: 'waiting', attempts: 0, compensationAttempts: 0 } },
      })),
      on: {
        ...(wait.type === 'signal'
          ? {
              [SagaEvents.signal]: [
                {
                  guard: (args: Args) => isSignal(args) && (args.event as SignalEvent).rejected === true,
                  target: top(SagaStates.Compensating),
                  actions: waitFailed(() => step.name, rejectedError),
                },
                { guard: isSignal, target: forward, actions: waitPassed(() => step.name) },
              ],
            }
          : {}),
        [SagaEvents.deadline]: {
          guard: ({ context, event }: Args) =>
            event.type === SagaEvents.deadline &&
            event.step === step.name &&
            event.round === jobRound(context, step.name, 'run'),
          ...atDeadline,
        },
        // Nothing is in flight: a cancel before the pivot rolls back at once.
        ...(step.index < pivotIndex
          ? {
              [SagaEvents.cancel]: {
                target: top(SagaStates.Compensating),
                actions: [
                  update(({ context }) => ({ steps: patchStep(context, step.name, { status: 'idle' }) })),
                  markCancelled,
                ],
              },
            }
          : {}),
      },
    };
  };

  /**
   * The `Pending` substate of a parallel group: one region per member, each running its job to an
   * outcome; when every member has settled (none is abandoned: one in flight may yet take effect),
   * `deciding` moves on if the policy is met and rolls back if not (or if a cancel came meanwhile).
   */
  const groupNode = (group: GroupDefinition, members: readonly StepDefinition[], forward: string) => {
    const completedMembers = (context: SagaContext) =>
      members.filter((m) => context.steps[m.name]?.status === 'completed').length;
    const undoable = members.filter((m) => m.compensation !== undefined);
    const inDoubtMember = (context: SagaContext) => undoable.some((m) => context.steps[m.name]?.status === 'in_doubt');
    const names = new Set(members.map((m) => m.name));
    /** With `surplus: 'compensate'`: the members that completed after the policy was met, newest first. */
    const surplus = (context: SagaContext) =>
      group.surplus === 'compensate'
        ? context.completed
            .filter((name) => names.has(name))
            .slice(group.needed)
            .filter((name) => compensates.has(name) && context.steps[name]?.status === 'completed')
            .reverse()
        : [];
    const toUndo = (context: SagaContext) => inDoubtMember(context) || surplus(context).length > 0;
    return {
      tags: ['parallel'],
      description: `parallel group: ${describePolicy(group)}`,
      initial: 'members',
      states: {
        members: {
          type: 'parallel' as const,
          states: Object.fromEntries(
            members.map((member) => [
              member.name,
              {
                initial: 'running',
                states: {
                  running: {
                    ...runsJob(member, 'run'),
                    on: {
                      [SagaEvents.stepDone]: {
                        guard: isFor(member, 'run'),
                        target: 'done',
                        actions: markRunCompleted(member),
                      },
                      [SagaEvents.stepFailed]: [
                        ...(member.kind === 'query'
                          ? []
                          : [
                              {
                                guard: (args: Args) => inDoubt(args) && isFor(member, 'run')(args),
                                target: 'failed',
                                actions: markMemberFailed(member, 'in_doubt'),
                              },
                            ]),
                        { guard: isFor(member, 'run'), target: 'failed', actions: markMemberFailed(member, 'failed') },
                      ],
                    },
                  },
                  done: { type: 'final' as const },
                  failed: { type: 'final' as const },
                },
              },
            ]),
          ),
          onDone: 'deciding',
        },
        deciding: {
          always: [
            {
              guard: ({ context }: Args) => context.cancelRequested,
              target: top(SagaStates.Compensating),
              actions: markCancelled,
            },
            // Met, but a member ended in doubt (it may have taken effect) or completed beyond what
            // the policy needed (with surplus: 'compensate'): those are undone first.
            {
              guard: ({ context }: Args) => completedMembers(context) >= group.needed && toUndo(context),
              target: 'trimming',
            },
            { guard: ({ context }: Args) => completedMembers(context) >= group.needed, target: forward },
            { target: top(SagaStates.Compensating), actions: markGroupFailed(members) },
          ],
        },
        trimming: {
          initial: NEXT_COMPENSATION,
          states: {
            [NEXT_COMPENSATION]: {
              always: [
                ...undoable.map((member) => ({
                  guard: ({ context }: Args) => context.steps[member.name]?.status === 'in_doubt',
                  target: member.name,
                })),
                ...undoable.map((member) => ({
                  guard: ({ context }: Args) => surplus(context)[0] === member.name,
                  target: member.name,
                })),
                // A cancel that came while the group ran is honoured once its undo is done.
                {
                  guard: ({ context }: Args) => context.cancelRequested,
                  target: top(SagaStates.Compensating),
                  actions: markCancelled,
                },
                { target: forward },
              ],
            },
            ...Object.fromEntries(undoable.map((member) => [member.name, compensationNode(member)])),
          },
        },
      },
      on: cancelRequest,
    };
  };

  /** The group's member failure behind a group that failed: the first member that failed, in definition order. */
  const markGroupFailed = (members: readonly StepDefinition[]) =>
    update(({ context }) => {
      const failed = members.find((m) => {
        const status = context.steps[m.name]?.status;
        return status === 'failed' || status === 'in_doubt';
      });
      const error = failed ? context.steps[failed.name]?.error : undefined;
      return {
        failure: {
          reason: 'failed' as const,
          ...(failed ? { step: failed.name } : {}),
          ...(error ? { error } : {}),
        },
      };
    });

  /** A member's run failed for good: recorded on the step; the group decides once all have settled. */
  const markMemberFailed = (member: StepDefinition, status: 'failed' | 'in_doubt') =>
    update(({ context, event }) => ({
      steps: patchStep(context, member.name, failedPatch(event as StepFailedEvent, status, 0)),
    }));

  const positions = positionsOf(definition);
  const nameOf = (position: Position) => (position.group ? position.group.name : position.step.name);
  const pendingStates = Object.fromEntries(
    positions.map((position, index) => {
      const next = positions[index + 1];
      const forward = next ? nameOf(next) : top(SagaStates.Completed);
      return [
        nameOf(position),
        position.group
          ? groupNode(position.group, position.members, next ? `${top(SagaStates.Pending)}.${forward}` : forward)
          : position.step.wait
            ? waitNode(position.step, position.step.wait, forward)
            : stepNode(position.step, forward),
      ];
    }),
  );

  const compensatingStates = Object.fromEntries(compensable.map((step) => [step.name, compensationNode(step)]));

  const resumeTo = (step: StepDefinition, direction: Direction) => ({
    guard: ({ context }: Args) =>
      context.escalation?.step === step.name && (context.escalation.direction ?? 'compensate') === direction,
    target: `${direction === 'run' ? SagaStates.Pending : SagaStates.Compensating}.${step.name}`,
    actions: update(({ context }) => nextRound(context, direction)),
  });

  return sagaMachineSetup.createMachine({
    id,
    description: definition.description,
    initial: SagaStates.Started,
    context: ({ input }) =>
      initialContext(
        input,
        Object.fromEntries(
          steps.map((s) => [s.name, { status: 'idle', attempts: 0, compensationAttempts: 0 } satisfies StepState]),
        ),
      ),
    states: {
      [SagaStates.Started]: startedState,
      [SagaStates.Pending]: {
        initial: nameOf(positions[0] as Position),
        states: pendingStates,
      },
      [SagaStates.Compensating]: {
        initial: NEXT_COMPENSATION,
        states: {
          [NEXT_COMPENSATION]: {
            always: [
              ...compensable.map((step) => ({
                guard: ({ context }: Args) => nextCompensation(context) === step.name,
                target: step.name,
                actions: skipPassedOver(
                  () => compensates,
                  () => step.name,
                ),
              })),
              {
                target: top(SagaStates.Failed),
                actions: skipPassedOver(
                  () => compensates,
                  () => undefined,
                ),
              },
            ],
          },
          ...compensatingStates,
        },
      },
      [SagaStates.Completed]: { type: 'final' },
      [SagaStates.Failed]: { type: 'final' },
      [SagaStates.Escalated]: {
        on: {
          [SagaEvents.resume]: [
            // A group's in-doubt member whose undo escalated before any failure: the group was
            // moving on, so its undo is retried where it was, inside the group.
            ...compensable
              .filter((step) => step.group !== undefined)
              .map((step) => {
                const resume = resumeTo(step, 'compensate');
                return {
                  ...resume,
                  guard: (args: Args) => args.context.failure === undefined && resume.guard(args),
                  target: `${SagaStates.Pending}.${step.group}.trimming.${step.name}`,
                };
              }),
            ...compensable.map((step) => resumeTo(step, 'compensate')),
            // Any step but a group's may escalate its run: after the pivot, or before it in doubt.
            ...steps.filter((step) => step.group === undefined).map((step) => resumeTo(step, 'run')),
          ],
          [SagaEvents.resolve]: [
            // A failure after the pivot fixed by hand finishes the saga; anything else fixed by hand
            // (a stuck rollback, an in-doubt step before the pivot) ends it Failed, the steps left
            // to undo named in the resolution.
            {
              guard: ({ context }: Args) =>
                context.escalation?.direction === 'run' && indexOf(context.escalation.step) > pivotIndex,
              target: SagaStates.Completed,
              actions: recordResolution,
            },
            { target: SagaStates.Failed, actions: [recordResolution, failureFromEscalation] },
          ],
          // An in-doubt step up to the pivot that a person found did not happen (or wants undone),
          // or a wait before it whose deadline passed: roll back, compensating that step too, in
          // doubt, when it has a compensation.
          [SagaEvents.cancel]: {
            guard: ({ context }: Args) =>
              context.escalation?.direction === 'run' &&
              (context.escalation.inDoubt === true || waits.has(context.escalation.step)) &&
              indexOf(context.escalation.step) <= pivotIndex,
            target: SagaStates.Compensating,
            actions: cancelEscalatedRun(() => compensates),
          },
        },
      },
    },
  });
}

function describeWait(name: string, wait: WaitDefinition): string {
  const deadline =
    wait.timeoutMs !== undefined ? `${wait.timeoutMs} ms` : wait.until !== undefined ? 'a computed date' : undefined;
  if (wait.type === 'sleep') return `durable sleep until ${deadline ?? 'its deadline'}`;
  const ending = deadline === undefined ? 'no deadline' : `deadline ${deadline}, then ${wait.onTimeout}`;
  return `waits for signal "${name}" (${ending}${wait.reject ? '; a rejecting signal rolls back' : ''})`;
}

function describePolicy(group: GroupDefinition): string {
  const { policy, needed, members } = group;
  const rule = typeof policy === 'object' ? `at least ${policy.atLeast}` : policy;
  const surplus = group.surplus === 'compensate' ? '; completions beyond that are undone' : '';
  return `${rule} (${needed} of ${members.length} must complete${surplus})`;
}

/** The machine type of any saga definition. */
export type SagaMachine = ReturnType<typeof buildDefinedMachine>;
