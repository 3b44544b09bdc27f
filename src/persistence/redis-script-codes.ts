import { ConflictError, RecordCorruptError, type SagaError, SagaNotFoundError, StoreError } from '../errors.ts';

/**
 * Negative return codes of the RedisStore scripts. Each maps to one typed error through
 * {@link scriptError}; a script never signals a decision through an error reply, and checks the
 * type of every key it writes before its first write, so a key changed outside xsaga can never
 * leave a write half done.
 */
export const ScriptCode = {
  /** The saga hash does not exist (never created, or expired after its retention). */
  SagaNotFound: -1,
  /** The stored revision is not the one the writer read. */
  Conflict: -2,
  /** The saga key is not a hash, or its revision or createdAt is not a number. */
  RecordCorrupt: -3,
  /** The saga's log key is not a list. */
  LogCorrupt: -4,
  /** An index key (every saga, a state, a name) is not a sorted set: the whole prefix needs repair. */
  IndexCorrupt: -5,
  /** The Redis user may not PUBLISH on the settle channel (an ACL without `&<prefix>:*`). */
  PublishDenied: -6,
  /** The timer set is not a sorted set: the prefix's timers need repair. */
  TimersCorrupt: -7,
  /** The saga's snapshot key is not a string. */
  SnapshotCorrupt: -8,
} as const;

/** One of the {@link ScriptCode} values. */
export type ScriptCode = (typeof ScriptCode)[keyof typeof ScriptCode];

/** The typed error for a negative script return code. */
export function scriptError(code: ScriptCode, sagaId: string, expectedRevision: number, detail = ''): SagaError {
  switch (code) {
    case ScriptCode.SagaNotFound:
      return new SagaNotFoundError(sagaId);
    case ScriptCode.Conflict:
      return new ConflictError(sagaId, expectedRevision);
    case ScriptCode.RecordCorrupt:
      return new RecordCorruptError(sagaId, detail || 'revision', 'is not a number, or the key is not a hash');
    case ScriptCode.LogCorrupt:
      return new RecordCorruptError(sagaId, 'log', 'is not a Redis list');
    case ScriptCode.IndexCorrupt:
      return new StoreError(
        `Redis key "${detail}" is not a sorted set, so saga "${sagaId}" cannot be indexed; it was changed outside xsaga: delete or repair it`,
      );
    case ScriptCode.PublishDenied:
      return new StoreError(
        `saga "${sagaId}" was not saved: its Redis user may not PUBLISH on channel "${detail}", which tells engine.waitFor that a saga settled. Grant the prefix's channels and the two commands: ACL SETUSER <user> &<prefix>:* +publish +subscribe (see "Tenants and Redis ACLs" in the README)`,
      );
    case ScriptCode.TimersCorrupt:
      return new StoreError(
        `saga "${sagaId}" was not saved: Redis key "${detail}", where the sagas' timers (step, wait and idle deadlines) are kept, is not a sorted set; it was changed outside xsaga: delete or repair it`,
      );
    case ScriptCode.SnapshotCorrupt:
      return new RecordCorruptError(sagaId, 'snapshot', 'is not a Redis string');
  }
}

/** True when a script's reply is one of the negative {@link ScriptCode}s. */
export function isScriptCode(reply: unknown): reply is ScriptCode {
  return Object.values(ScriptCode).includes(reply as ScriptCode);
}
