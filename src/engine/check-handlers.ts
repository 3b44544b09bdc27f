import type { AnySagaDefinition } from '../definition/types.ts';
import { HandlerMissingError } from '../errors.ts';
import type { HandlerRegistry } from './handlers.ts';

/**
 * Refuses to drive a saga whose handlers are incomplete or misleading: every step needs `run`,
 * every compensable step needs `compensate`, and no other kind of step may have one (it would
 * never run); a step with `verify: 'always'` needs `verify`. Checked before anything is stored, so a saga never starts
 * only to fail at its third step for want of code.
 */
export function checkHandlers(definition: AnySagaDefinition, registry: HandlerRegistry): void {
  // A saga of waits and sleeps only runs no code, so it needs no handlers.
  const runsNothing = !definition.dynamic && definition.steps.every((step) => step.wait !== undefined);
  const handlers = registry[definition.name] ?? (runsNothing ? {} : undefined);
  if (!handlers) {
    throw new HandlerMissingError(
      `no handlers registered for saga "${definition.name}": pass createEngine({ handlers: { '${definition.name}': { ... } } })`,
    );
  }
  const missing: string[] = [];
  // A compensate handler on a step that is never compensated is a promise xsaga would not keep.
  const needless: string[] = [];
  // A dynamic saga's handlers are its tools', checked as its steps would be.
  const steps = definition.dynamic ? Object.values(definition.dynamic.tools) : definition.steps;
  for (const step of steps) {
    // A wait or sleep runs no code: a handler for it would be a promise xsaga would not keep.
    if ('wait' in step && step.wait) {
      if (handlers[step.name] !== undefined)
        needless.push(`${step.name} (a ${step.wait.type === 'sleep' ? 'sleep' : 'wait'})`);
      continue;
    }
    const handler = handlers[step.name];
    if (typeof handler?.run !== 'function') missing.push(`${step.name}.run`);
    if (step.compensation && typeof handler?.compensate !== 'function') missing.push(`${step.name}.compensate`);
    if (step.verify === 'always' && typeof handler?.verify !== 'function') missing.push(`${step.name}.verify`);
    if (!step.compensation && handler?.compensate !== undefined) needless.push(`${step.name} (${step.kind})`);
  }
  const known = new Set(steps.map((s) => s.name));
  const unknown = Object.keys(handlers).filter((name) => !known.has(name));
  if (missing.length > 0 || unknown.length > 0 || needless.length > 0) {
    const parts = [
      missing.length > 0 ? `missing ${missing.join(', ')}` : '',
      missing.some((name) => name.endsWith('.compensate'))
        ? "a step is compensable unless it declares another kind: give it a compensate handler, or declare kind 'query', 'pivot', 'retryable' or 'noncompensable'"
        : '',
      needless.length > 0
        ? `handlers that would never run: ${needless.join(', ')} (remove them; a compensate handler needs the kind 'compensable', and waits and sleeps take no handler)`
        : '',
      unknown.length > 0 ? `handlers for unknown steps ${unknown.join(', ')}` : '',
    ].filter(Boolean);
    throw new HandlerMissingError(`saga "${definition.name}" handlers are incomplete: ${parts.join('; ')}`);
  }
}
