import type { SagaError } from '../../src/index.ts';

/** The error a promise rejects with; fails the test if it resolves instead. */
export async function caught(promise: Promise<unknown>): Promise<SagaError> {
  try {
    await promise;
  } catch (error) {
    return error as SagaError;
  }
  throw new Error('expected a rejection');
}
