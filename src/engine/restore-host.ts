import { RecordCorruptError, SagaError } from '../errors.ts';
import type { SagaInspection } from '../observability/saga-inspection.ts';
import type { SagaRecord } from '../persistence/saga-store.ts';
import type { DefinitionRegistry } from './definition-registry.ts';
import { restoreActor } from './restore-actor.ts';
import type { Host } from './saga-hosts-types.ts';

/**
 * A saga started with a definition this engine was not given (see restoreHost): refused
 * (DEFINITION_UNKNOWN) when the engine knows no version of its name, quarantined (RECORD_CORRUPT)
 * when it knows the name but not the version.
 */
function unknownDefinitionError(
  sagaId: string,
  record: SagaRecord,
  code: 'DEFINITION_UNKNOWN' | 'RECORD_CORRUPT',
): SagaError {
  return new SagaError(
    code,
    `saga "${sagaId}" was started with "${record.name}" version ${record.version}, which this engine does not know; pass it in createEngine({ sagas })`,
  );
}

/**
 * A saga's host made from its stored record: its actor restored with the definition it was started
 * with. A record this engine cannot host though it knows the saga's name (an unknown version, a
 * snapshot that does not fit the machine) gives the RECORD_CORRUPT error to quarantine it with; a
 * saga whose name it does not know is refused (thrown, DEFINITION_UNKNOWN), untouched.
 */
export function restoreHost(
  sagaId: string,
  record: SagaRecord,
  registry: DefinitionRegistry,
  inspection: SagaInspection | undefined,
): Host | SagaError {
  const saga = registry.get(record.name, record.version);
  // Not this engine's saga: another engine may host it, so refuse without touching it (and
  // without acking its outcomes: the code differs from RECORD_CORRUPT on purpose).
  if (!saga && !registry.knows(record.name)) throw unknownDefinitionError(sagaId, record, 'DEFINITION_UNKNOWN');
  if (!saga) return unknownDefinitionError(sagaId, record, 'RECORD_CORRUPT');
  const actor = restoreActor(saga, record, inspection?.observer(sagaId, 'restored'));
  if (!actor) {
    return new RecordCorruptError(
      sagaId,
      'snapshot',
      `is not a snapshot of "${record.name}" version ${record.version} (its steps or state do not fit the machine)`,
    );
  }
  return { actor, saga, revision: record.revision, createdAt: record.createdAt };
}
