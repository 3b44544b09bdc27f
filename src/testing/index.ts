/**
 * `xsaga/testing`: the tools xsaga tests itself with, for your own sagas in your own CI.
 *
 * @packageDocumentation
 */

export type { CompensationCheckOptions, CompensationRun, HandlerCall } from './check-compensation.ts';
export { checkCompensationAtEveryIndex } from './check-compensation.ts';
export { expectedRollback } from './expected-rollback.ts';
export { withInstantRetries } from './instant-retries.ts';
export type { SagaPathScenario, SagaTestModel, SagaTestModelOptions } from './saga-test-model.ts';
export { createSagaTestModel } from './saga-test-model.ts';
export { seededRandom } from './seeded-random.ts';
export { createTestClock, TestClock } from './test-clock.ts';
