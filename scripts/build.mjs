// Bundles each CLI into ESM under dist/ (what bin/ runs, what the initramfs carries), and vmcore-ts's
// most-run analysis commands into CommonJS files too (see FAST_COMMANDS).
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

// fflate: its browser build (the Node one loads node:worker_threads at import for an async API we
// never use), evaluated at its first call (scripts/lazy-fflate.mjs): ~5 and ~2 ms less start-up.
const FFLATE = { fflate: './scripts/lazy-fflate.mjs' };

const common = {
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  // Native addons stay external: they are loaded from node_modules at run time; so does the
  // collector's SQLite (node-sqlite3-wasm reads its .wasm file beside its script); pg is bundled
  // but for its optional native binding, never used.
  external: ['koffi', 'node-sqlite3-wasm', 'pg-native'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  alias: FFLATE,
  logLevel: 'warning',
};
// kexec-ts, kdump-ts, the save pipeline's worker thread and the S3 worker thread (both loaded from
// beside the vmcore-ts chunks): one self-contained file each (fixtures/arm64 copies kexec-ts.mjs
// alone). The AWS SDK is in s3-worker.mjs only, which only `save --to s3://` and `verify s3://` start.
await build({
  ...common,
  entryPoints: { 'kexec-ts': 'src/cli/kexec-ts.ts', 'kdump-ts': 'src/cli/kdump-ts.ts', 'compress-worker': 'src/host/compress-worker.ts', 's3-worker': 'src/host/s3-worker.ts' },
});
// vmcore-ts: split at each command's dynamic import (src/cli/vmcore/commands.ts), so a command
// loads only its own code — start-up is most of a `vmcore-ts dmesg` run. The chunks
// (dist/vmcore-ts-*.mjs) sit beside vmcore-ts.mjs: whoever copies the bundle copies dist/*.mjs.
mkdirSync('dist', { recursive: true });
for (const f of readdirSync('dist')) if (/^vmcore-ts-.*\.mjs(\.map)?$/.test(f)) rmSync(`dist/${f}`);
await build({
  ...common,
  entryPoints: { 'vmcore-ts': 'src/cli/vmcore-ts.ts' },
  splitting: true,
  chunkNames: 'vmcore-ts-[name]-[hash]',
});

// The analysis commands run most, and save (what a capture kernel runs, from a cold start), each also
// as one CommonJS file (dist/vmcore-ts-COMMAND.cjs), behind a CommonJS launcher (dist/vmcore-ts.cjs,
// what bin/vmcore-ts.cjs, the Debian package and the capture initramfs run): Node 20's ESM loader and
// the split bundle's modules are ~20 ms of a 100 ms `vmcore-ts dmesg`, ~16 ms of a 0.3 s save
// (BENCHMARKS.md). Any other command, or a missing file, goes to the ESM bundle above.
const FAST_COMMANDS = { dmesg: 'dmesgCommand', info: 'infoCommand', summary: 'summaryCommand', save: 'saveCommand' };
const FAST_ALIASES = { log: 'dmesg', sys: 'info' }; // src/cli/vmcore/commands.ts vmcoreAliases
const cjs = {
  ...common,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  define: { 'import.meta.url': '__importMetaUrl', 'import.meta.resolve': '__importMetaResolve' },
  banner: {
    js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href, __importMetaResolve = (s) => require('node:url').pathToFileURL(require.resolve(s)).href;",
  },
};
for (const [name, exported] of Object.entries(FAST_COMMANDS)) {
  await build({
    ...cjs,
    outdir: undefined,
    outfile: `dist/vmcore-ts-${name}.cjs`,
    stdin: {
      // Run as a script, or built into a V8 start-up snapshot (node --build-snapshot: the Debian
      // package's for dmesg, scripts/build-deb.mjs) and run when node starts from it — there argv has
      // no script path, so one is put back where runCli looks.
      contents: [
        `import { runCli } from './run.ts';`,
        `import { ${exported} } from './vmcore/${name}.ts';`,
        `const main = () => void runCli('vmcore-ts', (argv) => ${exported}.run(argv.slice(1)));`,
        // (node:v8 only when building: loading it is 1.5 ms of every start)
        `if (!process.execArgv.includes('--build-snapshot')) main();`,
        `else require('node:v8').startupSnapshot.setDeserializeMainFunction(() => (process.argv.splice(1, 0, __filename), main()));`,
        '',
      ].join('\n'),
      resolveDir: 'src/cli',
      sourcefile: `vmcore-ts-${name}.ts`,
      loader: 'ts',
    },
  });
}
// The save's compression worker as CommonJS too, started by the CommonJS save (worker-pool.ts): each
// worker boots Node in its thread, and Node's ESM loader was ~20 ms of that boot (BENCHMARKS.md).
await build({ ...cjs, entryPoints: { 'compress-worker': 'src/host/compress-worker.ts' } });
{
  const files = { ...Object.fromEntries(Object.keys(FAST_COMMANDS).map((n) => [n, n])), ...FAST_ALIASES };
  writeFileSync(
    'dist/vmcore-ts.cjs',
    `'use strict';
// vmcore-ts's CommonJS launcher (made by scripts/build.mjs): a command with a CommonJS file of its
// own runs from it, every other from the ESM bundle.
const fast = ${JSON.stringify(files)};
const name = process.argv[2];
const file = Object.hasOwn(fast, name) ? \`\${__dirname}/vmcore-ts-\${fast[name]}.cjs\` : undefined;
if (file && require('node:fs').existsSync(file)) require(file);
else import('./vmcore-ts.mjs').catch((e) => { process.stderr.write(\`vmcore-ts: cannot load \${__dirname}/vmcore-ts.mjs: \${e.message}\n\`); process.exitCode = 1; });
`,
  );
}

// The package's library entry (package.json "exports": `import { openKernelDump } from 'kexec-ts'`):
// the typed API and its Node opener, one self-contained file; its declarations in dist/types/.
// `vmcore-ts run` loads the same file for scripts, and its module hooks (dist/ts-hooks.mjs, with
// amaro, Node's TypeScript type stripper, bundled in) to run .ts scripts without a build step.
await build({ ...common, entryPoints: { api: 'src/host/package-entry.ts' } });
// (no source map: amaro is 3.7 MB of generated code around its WebAssembly)
await build({ ...common, entryPoints: { 'ts-hooks': 'src/cli/vmcore/ts-hooks.mjs' }, sourcemap: false });
{
  const types = spawnSync(process.execPath, ['scripts/build-types.mjs'], { stdio: 'inherit' });
  if (types.error || types.status !== 0) console.warn('build: the API type declarations (dist/types/) were not built (needs typescript)');
}

// The x86_64 kexec purgatory (purgatory/*.S|c): one relocatable object, linked by kexec-ts at load
// time. Built with the machine's gcc/ld; without them kexec-ts still plans (--dry-run) but cannot load.
const purg = spawnSync('make', ['-s', '-C', 'purgatory', 'OUT=../dist'], { stdio: 'inherit' });
if (purg.error || purg.status !== 0) {
  console.warn('build: the x86_64 purgatory was not built (needs make, gcc, ld): kexec-ts -l (kexec_load) will not work');
}
// The arm64 purgatory (purgatory/arm64/purgatory.S): assembled with llvm-mc, which targets AArch64 on any host.
const purgArm64 = spawnSync('make', ['-s', '-C', 'purgatory/arm64', 'OUT=../../dist'], { stdio: 'inherit' });
if (purgArm64.error || purgArm64.status !== 0) {
  console.warn('build: the arm64 purgatory was not built (needs make and llvm-mc): arm64 kexec-ts -l will not work');
}

// The dump viewer (web/): one self-contained page, dist/web/viewer.html, served by `vmcore-ts serve`.
await import('../web/build.mjs');
