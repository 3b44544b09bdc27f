import { getSimplePaths } from '@xstate/graph';
import { initialTransition, transition } from 'xstate';
import { pivotIndexOf, pivotOf } from '../definition/step-kinds.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import { idleRound } from '../machines/build-dynamic-machine.ts';
import { buildSagaMachine, inFlight, jobRound, parkedAt, type SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext } from '../machines/context.ts';
import { stepOf } from '../machines/step-of.ts';
import { IDLE_DEADLINE, type SagaEvent, SagaEvents } from '../vocabulary/events.ts';
import { type SagaState, SagaStates, SETTLED_STATES, topLevelState } from '../vocabulary/states.ts';
import { expectedRollback, passedBefore, positionOf } from './expected-rollback.ts';

/** One path through a saga's machine, from creation to a settled state: a scenario. */
export interface SagaPathScenario {
  /** Readable, e.g. `reserveFlight ok, reserveHotel fails, undo reserveFlight ok -> Failed`. */
  description: string;
  /** The events that drive the machine along the path. */
  events: SagaEvent[];
  finalState: SagaState;
  /** Forward steps completed, in completion order (from the events). */
  completed: string[];
  /** Compensations that succeeded along the path, in order (from the events). */
  compensations: string[];
  /** The machine's context at the end of the path. */
  context: SagaContext;
}

/** Options of {@link createSagaTestModel}. */
export interface SagaTestModelOptions {
  /**
   * Also let every run end in doubt (default true). Paths multiply with it: a saga with a parallel
   * group of three has thousands; turn it off to explore definite outcomes only, and check in-doubt
   * handling with checkCompensationAtEveryIndex, which fails every step in doubt once.
   */
  inDoubt?: boolean;
  /**
   * A dynamic saga (see `defineDynamicSaga`): the most steps its agent appends on a path (default 2).
   * Every tool is offered at every step, so paths grow as tools^maxSteps.
   */
  maxSteps?: number;
}

/** The model-based tests of one definition. */
export interface SagaTestModel {
  machine: SagaMachine;
  /** Every simple path from `Started` to a settled state (`Completed`, `Failed`, `Escalated`). */
  paths: SagaPathScenario[];
  /** The invariants a path breaks (empty when it keeps them all). */
  violations(path: SagaPathScenario): string[];
  /** Checks every path; throws an Error listing each broken path and rule. Returns the path count. */
  check(): number;
}

const ERROR = { name: 'Error', message: 'injected by the test model' };

/**
 * Enumerates every path of a saga's machine with `@xstate/graph` and checks each one: the final
 * state is right, and the compensations taken are exactly the completed compensable steps in
 * reverse (a prefix of them when Escalated). Run it in your CI on your own definitions.
 *
 * It needs no handlers and runs none: it checks the machine xsaga builds from your definition (its
 * steps, their order, which ones compensate), with synthetic events — each step done (result
 * `{ from: <step> }`) or failed, cancel while Pending, and resume or resolve when Escalated — and
 * no store, queue, clock or I/O. What your handlers do is {@link checkCompensationAtEveryIndex}'s part.
 *
 * @example
 * ```ts
 * it('rolls back correctly on every path', () => {
 *   expect(createSagaTestModel(trip).check()).toBeGreaterThan(0);
 * });
 * ```
 */
export function createSagaTestModel(definition: AnySagaDefinition, options: SagaTestModelOptions = {}): SagaTestModel {
  const machine = buildSagaMachine(definition);
  const inDoubt = options.inDoubt ?? true;
  const maxSteps = options.maxSteps ?? 2;
  const simplePaths = getSimplePaths(machine, {
    input: { sagaId: 'model', input: {} },
    events: (snapshot) => eventsFor(definition, snapshot.value, snapshot.context, inDoubt, maxSteps),
    // Identity is the state plus the history the invariants read; counters, results and rounds are
    // left out so resume loops close and the graph stays finite.
    serializeState: (snapshot) => {
      const c = snapshot.context;
      return JSON.stringify([
        snapshot.value,
        c.cancelRequested,
        c.completed,
        c.compensated,
        c.skipped,
        c.escalation?.step,
        c.escalation?.direction,
        c.escalation?.inDoubt,
        c.failure?.reason,
        c.resolution !== undefined,
        Object.keys(c.rounds).sort(),
        Object.keys(c.runRounds ?? {}).sort(),
        // Which steps failed, or failed in doubt, is not in the state value inside a parallel group.
        Object.entries(c.steps).map(([name, step]) => `${name}:${step.status}${step.inDoubt ? '?' : ''}`),
      ]);
    },
  });
  const paths = simplePaths
    .filter((path) => SETTLED_STATES.includes(topLevelState(path.state.value)))
    .map((path) => replay(definition, machine, path.steps.map((s) => s.event as SagaEvent).filter(isSagaEvent)));
  // A dynamic saga's path is checked as the defined saga its agent's steps made of it.
  const violations = (path: SagaPathScenario) =>
    checkPath(definition.dynamic ? definedSagaOf(definition, path.context) : definition, path);
  return {
    machine,
    paths,
    violations,
    check() {
      const broken = paths.map((path) => ({ path, problems: violations(path) })).filter((r) => r.problems.length > 0);
      if (broken.length > 0) {
        const lines = broken.slice(0, 20).map((r) => `- ${r.path.description}: ${r.problems.join('; ')}`);
        throw new Error(
          `saga "${definition.name}": ${broken.length} of ${paths.length} paths break invariants\n${lines.join('\n')}`,
        );
      }
      return paths.length;
    },
  };
}

/**
 * What parallel groups undo while the saga goes on, in order, computed from the events alone: when
 * a group's last member settles with its policy met and no cancel waiting, its members whose run
 * ended in doubt (newest step first), then, with `surplus: 'compensate'`, the members that completed
 * beyond what the policy needed (newest first).
 */
function groupTrims(definition: AnySagaDefinition, events: readonly SagaEvent[]): string[] {
  const trims: string[] = [];
  for (const group of definition.groups) {
    const outcomes = new Map<string, SagaEvent>();
    const completedInOrder: string[] = [];
    let cancelled = false;
    for (const event of events) {
      if (event.type === SagaEvents.cancel) cancelled = true;
      if (!isRunOutcome(event)) continue;
      const { step } = event as { step: string };
      if (!group.members.includes(step) || outcomes.size === group.members.length) continue;
      outcomes.set(step, event);
      if (event.type === SagaEvents.stepDone) completedInOrder.push(step);
      if (outcomes.size < group.members.length) continue;
      if (cancelled || completedInOrder.length < group.needed) break;
      const undoable = (name: string) => definition.steps.find((s) => s.name === name)?.compensation !== undefined;
      const inDoubt = group.members.filter((m) => {
        const outcome = outcomes.get(m);
        return undoable(m) && outcome?.type === SagaEvents.stepFailed && outcome.inDoubt === true;
      });
      const surplus = group.surplus === 'compensate' ? completedInOrder.slice(group.needed).filter(undoable) : [];
      trims.push(...inDoubt.reverse(), ...surplus.reverse());
    }
  }
  return trims;
}

function isRunOutcome(event: SagaEvent): boolean {
  return (event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed) && event.direction === 'run';
}

function eventsFor(
  definition: AnySagaDefinition,
  value: unknown,
  context: SagaContext,
  withInDoubt: boolean,
  maxSteps: number,
): SagaEvent[] {
  const state = topLevelState(value);
  if (state === SagaStates.Started) return [{ type: SagaEvents.start }, { type: SagaEvents.cancel }];
  if (state === SagaStates.Escalated) {
    // cancel: what a person asks of an in-doubt step before the pivot that did not happen.
    return [
      { type: SagaEvents.resume },
      { type: SagaEvents.resolve, note: 'fixed by hand' },
      { type: SagaEvents.cancel },
    ];
  }
  // Every job the saga waits for may finish next: one step, or any member of a parallel group in
  // any order, so the paths hold every order of completion.
  const events: SagaEvent[] = [];
  for (const { step, direction, round } of inFlight(context)) {
    const base = { step, direction, attempts: 1, round } as const;
    events.push(
      { type: SagaEvents.stepDone, ...base, result: { from: step } },
      { type: SagaEvents.stepFailed, ...base, error: ERROR },
    );
    // A run may also end in doubt (a timeout, a lost worker): it may have taken effect.
    if (direction === 'run' && withInDoubt) {
      events.push({ type: SagaEvents.stepFailed, ...base, error: ERROR, inDoubt: true });
    }
  }
  // A dynamic saga waiting for its agent: any tool next (up to maxSteps), completion, or its idle deadline.
  if (definition.dynamic && (value as { Pending?: unknown }).Pending === 'idle') {
    if ((context.plan?.length ?? 0) < maxSteps) {
      for (const tool of Object.keys(definition.dynamic.tools))
        events.push({ type: SagaEvents.append, tool, args: {} });
    }
    events.push(
      { type: SagaEvents.complete },
      { type: SagaEvents.deadline, step: IDLE_DEADLINE, round: idleRound(context) },
    );
  }
  // A saga parked at a wait goes on with a signal (one its `reject` accepts or refuses), or at its deadline.
  const parked = parkedAt(context);
  const wait = parked === undefined ? undefined : stepOf(definition, context, parked)?.wait;
  if (parked !== undefined && wait) {
    if (wait.type === 'signal') {
      // A dynamic saga's signal is named after its wait: the tool of the step it parks at.
      const name = context.steps[parked]?.tool ?? parked;
      events.push({ type: SagaEvents.signal, name, payload: { from: parked } });
      if (wait.reject) events.push({ type: SagaEvents.signal, name, payload: { from: parked }, rejected: true });
    }
    // Only a wait with a deadline has one to reach.
    if (wait.timeoutMs !== undefined || wait.until !== undefined) {
      events.push({ type: SagaEvents.deadline, step: parked, round: jobRound(context, parked, 'run') });
    }
  }
  // Offered on every step: past the pivot the machine must refuse it, which the paths then show.
  if (state === SagaStates.Pending && !context.cancelRequested) events.push({ type: SagaEvents.cancel });
  return events;
}

/** Whether an event ended the wait `step` with the saga going on past it (a signal it accepts, or a deadline that continues). */
function passesWait(definition: AnySagaDefinition, context: SagaContext, event: SagaEvent): string | undefined {
  const step = parkedAt(context);
  if (step === undefined) return undefined;
  if (event.type === SagaEvents.signal) return event.rejected ? undefined : step;
  const continues =
    event.type === SagaEvents.deadline && stepOf(definition, context, step)?.wait?.onTimeout === 'continue';
  return continues ? step : undefined;
}

const SAGA_EVENT_TYPES = new Set<string>(Object.values(SagaEvents));

/** Drops the traversal's own `xstate.init` event. */
function isSagaEvent(event: SagaEvent): boolean {
  return SAGA_EVENT_TYPES.has(event.type);
}

/** Replays a path's events from scratch: the end state is computed, never taken from the traversal. */
function replay(definition: AnySagaDefinition, machine: SagaMachine, events: SagaEvent[]): SagaPathScenario {
  let [snapshot] = initialTransition(machine, { sagaId: 'model', input: {} });
  const replayed: SagaEvent[] = [];
  // The wait each event let the saga go on past, if any (read before the event is applied).
  const passed: (string | undefined)[] = [];
  for (const event of events) {
    // The graph merges states that differ only in their job rounds (so resume loops close): an
    // outcome (or a wait's deadline) is replayed for the round the saga waits for now.
    const concrete =
      event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed
        ? { ...event, round: jobRound(snapshot.context, event.step, event.direction) }
        : event.type === SagaEvents.deadline
          ? {
              ...event,
              round:
                event.step === IDLE_DEADLINE
                  ? idleRound(snapshot.context)
                  : jobRound(snapshot.context, event.step, 'run'),
            }
          : event;
    replayed.push(concrete);
    passed.push(passesWait(definition, snapshot.context, concrete));
    [snapshot] = transition(machine, snapshot, concrete);
  }
  return toScenario(replayed, passed, snapshot.value, snapshot.context);
}

function toScenario(
  events: SagaEvent[],
  passedWaits: readonly (string | undefined)[],
  value: unknown,
  context: SagaContext,
): SagaPathScenario {
  const completed: string[] = [];
  const compensations: string[] = [];
  const words: string[] = [];
  events.forEach((event, at) => {
    const passed = passedWaits[at];
    if (passed !== undefined) completed.push(passed);
    if (event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed) {
      const ok = event.type === SagaEvents.stepDone;
      if (ok && event.direction === 'run') completed.push(event.step);
      if (ok && event.direction === 'compensate') compensations.push(event.step);
      const failure = event.type === SagaEvents.stepFailed && event.inDoubt ? 'fails in doubt' : 'fails';
      words.push(`${event.direction === 'run' ? '' : 'undo '}${event.step} ${ok ? 'ok' : failure}`);
    } else if (event.type === SagaEvents.signal) {
      words.push(`${event.name} ${event.rejected ? 'rejected' : 'signalled'}`);
    } else if (event.type === SagaEvents.deadline) {
      words.push(`${event.step === IDLE_DEADLINE ? 'idle' : event.step} deadline`);
    } else if (event.type === SagaEvents.append) {
      words.push(`append ${event.tool}`);
    } else if (event.type !== SagaEvents.start) {
      words.push(event.type.replace('saga.', ''));
    }
  });
  const finalState = topLevelState(value);
  return { description: `${words.join(', ')} -> ${finalState}`, events, finalState, completed, compensations, context };
}

function checkPath(definition: AnySagaDefinition, path: SagaPathScenario): string[] {
  const problems: string[] = [];
  const byName = new Map(definition.steps.map((s) => [s.name, s]));
  const rollback = expectedRollback(definition, path.completed);
  // Runs that ended in doubt and were never settled by a later outcome are undone first, in doubt,
  // newest step first, when their step says so (its inDoubt policy, or a person's cancel of the
  // escalation it raised); then the completed steps, newest completion first.
  const runOutcomes = path.events.map((e, at) => ({ e, at })).filter(({ e }) => isRunOutcome(e));
  const trimmed = groupTrims(definition, path.events);
  const undoneInDoubt = definition.steps
    .filter((step) => step.kind === 'compensable' && !trimmed.includes(step.name))
    .filter((step) => {
      const last = runOutcomes.findLast(({ e }) => (e as { step: string }).step === step.name);
      if (!last || last.e.type !== SagaEvents.stepFailed || !last.e.inDoubt) return false;
      return step.inDoubt === 'compensate' || path.events.slice(last.at + 1).some((e) => e.type === SagaEvents.cancel);
    })
    .map((step) => step.name)
    .reverse();
  const expectedCompensations = [
    ...trimmed,
    ...undoneInDoubt,
    ...rollback.expectedCompensations.filter((name) => !trimmed.includes(name)),
  ];
  const { expectedSkipped } = rollback;
  // Every in-doubt run ends verified (not in the model: verify runs in workers), compensated, escalated
  // or settled by a person; never silently dropped.
  path.events.forEach((event, index) => {
    if (event.type !== SagaEvents.stepFailed || !event.inDoubt || byName.get(event.step)?.kind === 'query') return;
    // A later outcome of the same run (after a resume) settles the doubt: same idempotency key.
    const settledLater = path.events
      .slice(index + 1)
      .some(
        (later) =>
          (later.type === SagaEvents.stepDone || later.type === SagaEvents.stepFailed) &&
          later.step === event.step &&
          later.direction === 'run',
      );
    // So does a person who looked and cancelled (it did not happen) or resolved it.
    const decided = path.events.slice(index + 1).some((later) => later.type === SagaEvents.cancel);
    const handled =
      settledLater ||
      decided ||
      path.compensations.includes(event.step) ||
      path.completed.includes(event.step) ||
      path.context.resolution !== undefined ||
      path.context.escalation?.step === event.step ||
      (path.context.escalation?.uncompensated ?? []).includes(event.step);
    if (!handled) problems.push(`in-doubt ${event.step} was dropped: not compensated, escalated or resolved`);
  });
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  // Steps complete in definition order, a parallel group's members in any order among themselves;
  // nothing after a group completes before the group has what its policy needs.
  const outOfOrder = path.completed.some((name, i) => {
    const at = positionOf(definition, name);
    return i > 0 && at < positionOf(definition, path.completed[i - 1] as string);
  });
  const early = path.completed.find((name) => !passedBefore(definition, path.completed, positionOf(definition, name)));
  if (outOfOrder || early !== undefined) problems.push(`steps completed out of order: ${path.completed.join(',')}`);
  if (!same(path.compensations, path.context.compensated)) {
    problems.push(
      `context.compensated ${path.context.compensated.join(',')} differs from the compensations taken ${path.compensations.join(',')}`,
    );
  }
  const wasCancelled = path.events.some((e) => e.type === SagaEvents.cancel);
  const pivot = pivotIndexOf(definition);
  const indexOf = (name: string | undefined) => definition.steps.find((s) => s.name === name)?.index ?? -1;
  const pastPivot = path.compensations.filter((name) => indexOf(name) >= pivot);
  if (pastPivot.length > 0) problems.push(`compensated ${pastPivot.join(',')}, at or after the pivot`);
  switch (path.finalState) {
    case SagaStates.Completed:
      // Only a person's `resolve` of a run's escalation completes a saga with steps left undone.
      if (!passedBefore(definition, path.completed, Number.POSITIVE_INFINITY) && !path.context.resolution) {
        problems.push('Completed without every step completed or a resolved escalation');
      }
      // The only undo in a Completed saga: a parallel group's in-doubt members, before it moved on.
      if (!same(path.compensations, trimmed)) {
        problems.push(`Completed after compensating ${path.compensations.join(',')}`);
      }
      // A cancel refused past the pivot changes nothing, so a simple path never holds one.
      if (wasCancelled) problems.push('Completed although cancelled');
      break;
    case SagaStates.Failed: {
      const resolved = path.context.resolution?.uncompensated ?? [];
      const undone = path.compensations.concat(resolved.filter((s) => !path.compensations.includes(s)));
      if (!same(undone, expectedCompensations)) {
        problems.push(
          `compensated ${undone.join(',') || 'nothing'}, expected ${expectedCompensations.join(',') || 'nothing'}`,
        );
      }
      if (!path.context.resolution && !same(path.context.skipped, expectedSkipped)) {
        problems.push(`skipped ${path.context.skipped.join(',')}, expected ${expectedSkipped.join(',')}`);
      }
      if (!path.context.failure) problems.push('Failed without a recorded failure');
      else if (wasCancelled !== (path.context.failure.reason === 'cancelled')) {
        problems.push(`failure reason ${path.context.failure.reason} after ${wasCancelled ? 'a' : 'no'} cancel`);
      }
      break;
    }
    case SagaStates.Escalated: {
      if (path.context.escalation?.direction === 'run') {
        const { step, inDoubt } = path.context.escalation;
        const waitEscalates = byName.get(step)?.wait?.onTimeout === 'escalate' || step === IDLE_DEADLINE;
        if (indexOf(step) <= pivot && !(inDoubt && byName.get(step)?.inDoubt === 'escalate') && !waitEscalates) {
          problems.push(
            `forward failure of ${step}, which is neither after the pivot, nor an in-doubt step that escalates, nor a wait whose deadline escalates`,
          );
        }
        // A parallel group undoes its in-doubt members before it moves on; nothing else is undone.
        if (!same(path.compensations, trimmed)) problems.push('compensated before a forward failure');
        break;
      }
      const remaining = path.context.escalation?.uncompensated ?? [];
      if (!same(path.compensations.concat(remaining), expectedCompensations)) {
        problems.push(
          `compensated ${path.compensations.join(',')} + left ${remaining.join(',')}, expected ${expectedCompensations.join(',')}`,
        );
      }
      break;
    }
    default:
      problems.push(`ended in ${path.finalState}, which is not settled`);
  }
  return problems;
}

/** The defined saga a dynamic saga's agent made on one path: its appended steps, in order, as steps. */
function definedSagaOf(definition: AnySagaDefinition, context: SagaContext): AnySagaDefinition {
  const steps = (context.plan ?? []).flatMap((name) => {
    const step = stepOf(definition, context, name);
    return step ? [step] : [];
  });
  const { dynamic: _dynamic, ...rest } = definition;
  return { ...rest, steps, groups: [], waits: [], pivot: pivotOf(steps)?.name };
}
