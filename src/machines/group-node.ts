import type { GroupDefinition, StepDefinition } from '../definition/types.ts';
import { SagaEvents, type StepFailedEvent } from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import { compensationNode } from './compensating-node.ts';
import type { SagaContext } from './context.ts';
import {
  type Args,
  failedPatch,
  inDoubt,
  markCancelled,
  NEXT_COMPENSATION,
  patchStep,
  update,
} from './machine-parts.ts';
import type { SagaLayout } from './saga-layout.ts';
import { cancelRequest, isFor, markRunCompleted, runsJob } from './step-job-parts.ts';

/**
 * The `Pending` substate of a parallel group: one region per member, each running its job to an
 * outcome; when every member has settled (none is abandoned: one in flight may yet take effect),
 * `deciding` moves on if the policy is met and rolls back if not (or if a cancel came meanwhile).
 */
export const groupNode = (
  layout: SagaLayout,
  group: GroupDefinition,
  members: readonly StepDefinition[],
  forward: string,
) => {
  const { top, compensates } = layout;
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
          ...Object.fromEntries(undoable.map((member) => [member.name, compensationNode(layout, member)])),
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

function describePolicy(group: GroupDefinition): string {
  const { policy, needed, members } = group;
  const rule = typeof policy === 'object' ? `at least ${policy.atLeast}` : policy;
  const surplus = group.surplus === 'compensate' ? '; completions beyond that are undone' : '';
  return `${rule} (${needed} of ${members.length} must complete${surplus})`;
}
