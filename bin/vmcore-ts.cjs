#!/usr/bin/env -S node --max-semi-space-size=1 --no-concurrent-recompilation
'use strict';
// Runs the bundled build through its CommonJS launcher (dist/vmcore-ts.cjs: Node's ESM loader is
// ~20 ms of a `vmcore-ts dmesg`); in a checkout without a build, bin/vmcore-ts.mjs runs the
// TypeScript sources through tsx.
const launcher = `${__dirname}/../dist/vmcore-ts.cjs`;
if (require('node:fs').existsSync(launcher)) require(launcher);
else import('./vmcore-ts.mjs');
