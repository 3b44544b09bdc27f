import { describe, expect, it } from 'vitest';
import type { BackoffPolicy } from '../../src/index.ts';
import { backoffDelay } from '../../src/transport/backoff.ts';

const exponential: Required<BackoffPolicy> = { type: 'exponential', delayMs: 100, maxDelayMs: 30_000, jitter: 0.5 };
const fixed: Required<BackoffPolicy> = { type: 'fixed', delayMs: 250, maxDelayMs: 30_000, jitter: 0.5 };
const always = (value: number) => () => value;

describe('backoffDelay', () => {
  describe('exponential', () => {
    it('doubles the base delay after each failed attempt (random 0: no jitter)', () => {
      expect([1, 2, 3, 4, 5].map((n) => backoffDelay(exponential, n, always(0)))).toEqual([100, 200, 400, 800, 1600]);
    });

    it('caps the delay at maxDelayMs', () => {
      const policy = { ...exponential, maxDelayMs: 500 };
      expect([1, 2, 3, 4, 10, 60].map((n) => backoffDelay(policy, n, always(0)))).toEqual([
        100, 200, 400, 500, 500, 500,
      ]);
    });

    it('treats attempt 0 or below as the first', () => {
      expect(backoffDelay(exponential, 0, always(0))).toBe(100);
      expect(backoffDelay(exponential, -3, always(0))).toBe(100);
    });
  });

  describe('fixed', () => {
    it('waits delayMs every time', () => {
      expect([1, 2, 3, 8].map((n) => backoffDelay(fixed, n, always(0)))).toEqual([250, 250, 250, 250]);
    });

    it('still respects maxDelayMs', () => {
      expect(backoffDelay({ ...fixed, maxDelayMs: 200 }, 1, always(0))).toBe(200);
    });
  });

  describe('jitter', () => {
    it('removes at most `jitter` of the delay: random 1 with jitter 0.5 halves it', () => {
      expect([1, 2, 3].map((n) => backoffDelay(exponential, n, always(1)))).toEqual([50, 100, 200]);
    });

    it('scales with the random value and rounds to whole milliseconds', () => {
      // 100 * (1 - 0.5 * 0.25) = 87.5 -> 88
      expect(backoffDelay(exponential, 1, always(0.25))).toBe(88);
      // 200 * (1 - 0.5 * 0.5) = 150
      expect(backoffDelay(exponential, 2, always(0.5))).toBe(150);
    });

    it('is applied after the cap', () => {
      expect(backoffDelay({ ...exponential, maxDelayMs: 300 }, 5, always(1))).toBe(150);
    });

    it('does nothing with jitter 0, and can reach zero with full jitter', () => {
      expect(backoffDelay({ ...exponential, jitter: 0 }, 2, always(0.99))).toBe(200);
      expect(backoffDelay({ ...exponential, jitter: 1 }, 2, always(1))).toBe(0);
    });

    it('draws one random number per delay', () => {
      let draws = 0;
      backoffDelay(exponential, 3, () => {
        draws++;
        return 0.5;
      });
      expect(draws).toBe(1);
    });
  });
});
