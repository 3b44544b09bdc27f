import type { ActorRefLike, InspectionEvent, Observer } from 'xstate';
import type { Logger } from './logger.ts';

/**
 * What `createEngine({ inspect })` takes, as XState's own `inspect` option does: an observer — what
 * `createWebSocketInspector().inspect` and `createBrowserInspector().inspect` of `@statelyai/inspect`
 * are — or a function.
 */
export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/**
 * The event type of the snapshot a saga is restored in (from the store, in whichever process applies
 * its next event): it stands where XState would report a second `xstate.init`.
 */
export const INSPECT_RESTORED = 'xsaga.restored';

/** Sagas remembered as announced to the inspector, per engine; past it the oldest are forgotten. */
const ANNOUNCED_LIMIT = 100_000;

/** The inspection session id of a saga: the same in every process and on every restore. */
export function inspectionSessionId(sagaId: string): string {
  return `xsaga:${sagaId}`;
}

/**
 * Turns the inspection events of saga actors into what an inspector should see: one actor per saga,
 * however often and wherever it is hydrated.
 *
 * XState numbers actors per process (`x:0`, `x:1`, ...) and a saga is a new actor on each restore,
 * so the raw stream would show a new anonymous actor whenever a saga is evicted and hydrated again.
 * Here each saga actor is shown with `sessionId` `xsaga:<sagaId>` (see {@link inspectionSessionId})
 * and `id` `<sagaId>` (the name the Stately inspector shows); its `@xstate.actor` registration, which
 * carries the machine definition, is sent when the actor starts (an actor that `start` builds only to
 * read its first snapshot, never hosted, is never shown), once per engine; a restore sends no
 * registration again and no `xstate.init` event, but a snapshot with event `xsaga.restored`
 * ({@link INSPECT_RESTORED}), the state the saga was found in; and an eviction (or `close`) is not
 * shown as the saga stopping. Events of the step-job actors a saga invokes are not passed on: they
 * only hand a job to the queue; a step's outcome shows as the saga's `step.done` / `step.failed`.
 *
 * Several processes (engines on Redis): each process that hydrates a saga registers it once, under the
 * same session id, and sends the events it applies; an inspector fed by all of them shows one actor
 * per saga with every event, whichever process applied it.
 *
 * An inspector that throws is logged (warn) and never breaks a saga.
 */
export class SagaInspection {
  readonly #observer: Observer<InspectionEvent>;
  readonly #logger: Logger;
  /** Session ids registered with the inspector, oldest first (a Set keeps insertion order). */
  readonly #announced = new Set<string>();

  constructor(inspect: InspectOption, logger: Logger) {
    this.#observer = typeof inspect === 'function' ? { next: inspect } : inspect;
    this.#logger = logger;
  }

  /** The `inspect` observer for the actor of saga `sagaId`, created fresh or restored from a snapshot. */
  observer(sagaId: string, origin: 'created' | 'restored'): Observer<InspectionEvent> {
    const sessionId = inspectionSessionId(sagaId);
    let shown: ActorRefLike | undefined;
    let registration: InspectionEvent | undefined;
    return {
      next: (event) => {
        // Only the saga actor itself: its step-job children have their own session ids.
        if (event.actorRef.sessionId !== event.rootId) return;
        shown ??= withSessionId(event.actorRef, sessionId);
        if (event.type === '@xstate.actor') {
          registration = event;
          return;
        }
        if (registration) {
          const first = registration;
          registration = undefined;
          if (!this.#announced.has(sessionId)) {
            this.#remember(sessionId);
            this.#send(sagaId, { ...first, rootId: sessionId, actorRef: shown });
          }
        }
        const about = 'event' in event ? event.event.type : undefined;
        // The process let go of the saga (eviction, close): the saga itself goes on.
        if (about === 'xstate.stop') return;
        if (origin === 'restored' && about === 'xstate.init') {
          if (event.type !== '@xstate.snapshot') return;
          this.#send(sagaId, { ...event, rootId: sessionId, actorRef: shown, event: { type: INSPECT_RESTORED } });
          return;
        }
        const sourceRef = 'sourceRef' in event && event.sourceRef === event.actorRef ? { sourceRef: shown } : {};
        this.#send(sagaId, { ...event, ...sourceRef, rootId: sessionId, actorRef: shown });
      },
    };
  }

  #send(sagaId: string, event: InspectionEvent): void {
    try {
      this.#observer.next?.(event);
    } catch (error) {
      this.#logger.child({ sagaId }).warn({ err: error }, 'the inspect observer threw; the saga goes on');
    }
  }

  #remember(sessionId: string): void {
    this.#announced.add(sessionId);
    if (this.#announced.size <= ANNOUNCED_LIMIT) return;
    const oldest = this.#announced.values().next().value;
    if (oldest !== undefined) this.#announced.delete(oldest);
  }
}

/**
 * The actor as the inspector should see it: the same object in every way but its session id. A
 * Proxy rather than a copy, so an inspector that reads the snapshot later (the Stately inspectors
 * serialize on the next tick) reads the live actor.
 */
function withSessionId(actorRef: ActorRefLike, sessionId: string): ActorRefLike {
  return new Proxy(actorRef, {
    get: (target, key) => (key === 'sessionId' ? sessionId : Reflect.get(target, key, target)),
  });
}
