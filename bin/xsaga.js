#!/usr/bin/env node
// The `xsaga` command: runs the built CLI (`npm run build` writes dist/ in a checkout of the repo).
// A user's TypeScript module is loaded with tsx if the user has it installed (see load-definitions).
import '../dist/cli/main.js';
