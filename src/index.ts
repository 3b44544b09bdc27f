/**
 * xsaga: sagas as XState v5 actors, with steps as queue jobs and snapshots in a store.
 * Test tools live on the `xsaga/testing` subpath.
 *
 * @packageDocumentation
 */

// Definitions
export { defineSaga, isSagaDefinition } from './definition/define-saga.ts';
export type {
  AnySagaDefinition,
  AttemptPolicy,
  BackoffPolicy,
  CompensationOptions,
  GroupConfig,
  GroupDefinition,
  GroupPolicy,
  InDoubtPolicy,
  RetryPolicy,
  SagaConfig,
  SagaDefinition,
  SagaInput,
  SagaStartInput,
  SagaHandlerName,
  SagaStepName,
  SagaWaitName,
  SleepConfig,
  StepConfig,
  StepDefinition,
  StepEntry,
  StepKind,
  DynamicDefinition,
  ToolDefinition,
  WaitConfig,
  WaitContext,
  WaitDefinition,
  WaitTimeoutPolicy,
} from './definition/types.ts';

// Engine
export { createEngine } from './engine/create-engine.ts';
export type { Engine, EngineOptions } from './engine/create-engine.ts';
export { defineHandlers } from './engine/handlers.ts';
export { GroupBuilder, SagaBuilder, saga } from './engine/saga-builder.ts';
export { defineDynamicSaga } from './engine/define-dynamic-saga.ts';
export type {
  DynamicSaga,
  DynamicSagaConfig,
  DynamicWaitSpec,
  ToolCompensationContext,
  ToolContext,
  ToolSpec,
} from './engine/define-dynamic-saga.ts';
export type { BuiltSaga, CompensableStepSpec, StepSpec } from './engine/saga-builder.ts';
export type {
  CompensationContext,
  HandlerRegistry,
  SagaHandlers,
  StepContext,
  StepHandler,
  VerifyAnswer,
} from './engine/handlers.ts';
export type {
  AppendedStep,
  AppendStep,
  SagaViewPage,
  SignalOptions,
  SignalResult,
  StartOptions,
  StartResult,
} from './engine/engine-api.ts';
export type { SagaView, StepView } from './engine/saga-view.ts';
export type { EngineEventMap, RecoveryProgress } from './observability/engine-events.ts';

// Logging and the XState inspector
export { createStderrLogger, silentLogger } from './observability/logger.ts';
export type { LogFn, Logger, LogLevel, StderrLoggerOptions } from './observability/logger.ts';
export { INSPECT_RESTORED, inspectionSessionId } from './observability/saga-inspection.ts';
export type { InspectOption } from './observability/saga-inspection.ts';

// Observability: instrumentation hooks (metrics live on the `xsaga/metrics` subpath) and tracing
export { createTracing, TraceAttributes } from './observability/tracing.ts';
export type { TracingOptions } from './observability/tracing.ts';
export type {
  Instrumentation,
  InstrumentedEngine,
  SagaSettledInfo,
  SagaStartedInfo,
  SagaTransitionInfo,
  StepAttemptEnd,
  StepAttemptInfo,
  StepEndedInfo,
  StuckReport,
  StuckSaga,
  TraceCarrier,
} from './observability/instrumentation.ts';

// Machines
export { buildSagaMachine } from './machines/build-saga-machine.ts';
export type { SagaMachine } from './machines/build-saga-machine.ts';
export { toStatelyJson } from './machines/to-json.ts';
export { toMachineConfig } from './machines/to-machine-config.ts';
export { toMermaid } from './machines/to-mermaid.ts';
export { SagaEvents } from './vocabulary/events.ts';
export type { DeadlineEvent, Direction, ErrorInfo, SagaEvent, SignalEvent } from './vocabulary/events.ts';
export { SagaStates } from './vocabulary/states.ts';
export type { SagaState } from './vocabulary/states.ts';
export type { ScriptCall } from './vocabulary/script-call.ts';
export type { SagaContext, SagaEscalation, SagaFailure, StepStatus } from './machines/context.ts';

// Persistence and transport: the interfaces, and the embedded defaults
export type {
  CreateResult,
  SagaCounts,
  SagaPage,
  SagaQuery,
  SagaRecord,
  SagaStats,
  SagaStore,
  SagaUpdate,
  SettledRead,
  TransitionEntry,
} from './persistence/saga-store.ts';
export { MemoryStore } from './persistence/memory-store.ts';
export type {
  AttemptRunner,
  EnqueueOptions,
  OutcomeHandler,
  StepJob,
  StepOutcome,
  StepQueue,
} from './transport/step-queue.ts';
export { InProcessQueue } from './transport/in-process-queue.ts';
export type { InProcessQueueOptions } from './transport/in-process-queue.ts';

// Durable backend: Redis store, BullMQ steps and workers
export { createRedisStore, RedisStore } from './persistence/redis-store.ts';
export type { RedisStoreOptions } from './persistence/redis-store-options.ts';
export { BullMqQueue } from './transport/bullmq-queue.ts';
export type { BullMqQueueOptions } from './transport/bullmq-queue.ts';
export type { BullMqOptions } from './transport/bullmq-names.ts';
export { createWorker } from './engine/create-worker.ts';
export type { StepWorker, WorkerOptions } from './engine/create-worker.ts';

// Time
export { systemClock } from './clock.ts';
export type { Clock, Random, TimerHandle } from './clock.ts';

// Errors
export {
  ConflictError,
  DefinitionError,
  EngineClosedError,
  HandlerMissingError,
  InputError,
  InvalidStateError,
  isSagaError,
  QueueError,
  RecordCorruptError,
  StoreError,
  isTerminalError,
  SagaError,
  SagaNotFoundError,
  SignalError,
  SignalNotAwaitedError,
  StepNotDoneError,
  StepTimeoutError,
  TerminalError,
} from './errors.ts';
export type { SagaErrorCode } from './errors.ts';
