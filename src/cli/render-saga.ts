import type { SagaView, StepView } from '../engine/saga-view.ts';
import type { TransitionEntry } from '../persistence/saga-store.ts';
import type { SagaEscalation, SagaFailure } from '../vocabulary/outcomes.ts';
import { describeErrorInfo, formatTable, isoTime, oneLine } from './cli-output.ts';

/** Longest input shown inline; `--json` has all of it. */
const INPUT_PREVIEW = 200;

/**
 * One saga for a person, as `xsaga show` prints it: a block of fields (state, input, times,
 * failure, escalation, resolution), the steps table (status, attempts, compensation attempts,
 * error; for a dynamic saga also the tool each step ran) and the saga log as a timeline (time,
 * from -> to, event, step, attempt, error). Pure: the same view always gives the same text.
 *
 * @example
 * ```ts
 * io.stdout.write(renderSaga(await engine.get(sagaId)));
 * ```
 */
export function renderSaga(view: SagaView): string {
  const fields: [string, string][] = [
    ['saga', view.sagaId],
    ['name', `${view.name} v${view.version}`],
    ['state', view.state],
    ['input', preview(view.input)],
    ['created', isoTime(view.createdAt)],
    ['updated', isoTime(view.updatedAt)],
    ['revision', String(view.revision)],
    ...(view.failure ? [['failure', describeFailure(view.failure)] as [string, string]] : []),
    ...(view.escalation ? [['escalation', describeEscalation(view.escalation)] as [string, string]] : []),
    ...(view.resolution
      ? [['resolution', describeResolution(view.resolution.note, view.resolution.uncompensated)] as [string, string]]
      : []),
  ];
  const width = Math.max(...fields.map(([key]) => key.length));
  const head = fields.map(([key, value]) => `${key.padEnd(width)}  ${value}\n`).join('');
  return [head, `Steps\n${renderSteps(view)}`, `Saga log\n${renderTimeline(view.history)}`].join('\n');
}

function renderSteps(view: SagaView): string {
  // Only a dynamic saga's steps run tools: a defined saga's table stays as it was.
  const tools = view.steps.some((step) => step.tool !== undefined);
  return formatTable(
    [
      { header: 'STEP' },
      ...(tools ? [{ header: 'TOOL' }] : []),
      { header: 'STATUS' },
      { header: 'ATTEMPTS', align: 'right' as const },
      { header: 'COMPENSATION ATTEMPTS', align: 'right' as const },
      { header: 'ERROR' },
    ],
    view.steps.map((step) => [
      step.name,
      ...(tools ? [step.tool ?? ''] : []),
      `${describeStatus(step.status)}${knownEffect(step)}`,
      String(step.attempts),
      String(step.compensationAttempts),
      describeErrorInfo(step.error),
    ]),
  );
}

/**
 * A step's status for a person. A parked step is `waiting` for a wait and a sleep alike (the view
 * does not say which), so its line names both ways out: a signal (`xsaga signal`) or its deadline.
 */
function describeStatus(status: StepView['status']): string {
  return status === 'waiting' ? 'waiting (signal or deadline)' : status;
}

/** The saga log, oldest first: every transition with what caused it. */
export function renderTimeline(history: readonly TransitionEntry[]): string {
  if (history.length === 0) return '(empty: the store keeps no log)\n';
  return formatTable(
    [
      { header: 'TIME' },
      { header: 'FROM -> TO' },
      { header: 'EVENT' },
      { header: 'STEP' },
      { header: 'ATTEMPT', align: 'right' },
      { header: 'ERROR' },
    ],
    history.map((entry) => [
      isoTime(entry.at),
      entry.from === '' ? `-> ${entry.to}` : `${entry.from} -> ${entry.to}`,
      `${entry.event}${knownEffect(entry)}`,
      entry.step === undefined ? '' : entry.direction === 'compensate' ? `${entry.step} (compensate)` : entry.step,
      entry.attempt === undefined ? '' : String(entry.attempt),
      describeErrorInfo(entry.error),
    ]),
  );
}

function describeFailure(failure: SagaFailure): string {
  const error = failure.error ? `: ${describeErrorInfo(failure.error)}` : '';
  if (failure.reason === 'cancelled') return `cancelled${failure.step ? ` during step ${failure.step}` : ''}${error}`;
  return `step ${failure.step ?? '?'} failed${error}`;
}

/** What is known of a step's effect beyond its status: in doubt, or what verify found. */
function knownEffect(of: { inDoubt?: true; verified?: boolean }): string {
  if (of.inDoubt) return ' (in doubt)';
  if (of.verified === true) return ' (verified)';
  if (of.verified === false) return ' (verified not done)';
  return '';
}

function describeEscalation(escalation: SagaEscalation): string {
  if (escalation.inDoubt) {
    return `step ${escalation.step} ended in doubt (it may have taken effect): ${describeErrorInfo(escalation.error)}; check the participant, then resume (run it again) or resolve`;
  }
  if (escalation.direction === 'run') {
    return `forward failure: step ${escalation.step} (after the pivot) failed: ${describeErrorInfo(escalation.error)}; resume retries it, resolve finishes the saga`;
  }
  return (
    `compensation of ${escalation.step} failed: ${describeErrorInfo(escalation.error)}; ` +
    `uncompensated: ${escalation.uncompensated.join(', ') || 'none'}`
  );
}

function describeResolution(note: string, uncompensated: readonly string[]): string {
  const text = note === '' ? '(no note)' : JSON.stringify(oneLine(note));
  return `${text}; left uncompensated: ${uncompensated.join(', ') || 'none'}`;
}

/** The input as one line of JSON, cut short when long. */
function preview(input: unknown): string {
  const json = JSON.stringify(input) ?? 'undefined';
  return json.length <= INPUT_PREVIEW ? json : `${json.slice(0, INPUT_PREVIEW)}... (--json shows all)`;
}
