import { defineConfig } from 'tsdown';

/**
 * Builds the published package into `dist/`: ESM `.js` with source maps and bundled `.d.ts`, one
 * output per public entry (the keys are the paths under `dist/` that `package.json` points at).
 * The sources keep their `.ts` import specifiers; bundling resolves them, so no `.ts` reaches `dist/`.
 */
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'metrics/index': 'src/metrics/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: 'esm',
  platform: 'node',
  // `.js`, not `.mjs`: the package is `"type": "module"` and `exports` names `.js` files.
  fixedExtension: false,
  dts: true,
  sourcemap: true,
  // Everything from node_modules stays external: `dependencies` and `peerDependencies` are imported at
  // run time, and an empty allow-list makes the build fail if source code imports a package that is
  // neither (a devDependency would otherwise be copied into dist/ silently).
  deps: { onlyBundle: [] },
});
