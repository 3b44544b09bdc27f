import { defineConfig } from 'vitest/config';

/**
 * The consumer checks (`npm run check:consumers`): they pack the built package and install it into
 * throwaway projects, so they need `npm run build` first and take a while. They are kept out of the
 * main `vitest run` (which only picks up `*.test.ts`) so developing on the sources stays quick.
 */
export default defineConfig({
  test: {
    include: ['test/package/**/*.check.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
