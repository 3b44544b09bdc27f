#!/usr/bin/env node
// The `xsaga` command. Registers tsx's ESM loader first, so the CLI (and the user's .ts modules it
// imports) run without a build step; the import must be dynamic to happen after `register()`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
