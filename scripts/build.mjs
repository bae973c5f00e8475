// Bundles each CLI into one ESM file under dist/ (what bin/ runs, what the initramfs carries).
import { build } from 'esbuild';

const entries = ['kexec-ts', 'kdump-ts', 'vmcore-ts'];
await build({
  entryPoints: Object.fromEntries(entries.map((e) => [e, `src/cli/${e}.ts`])),
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  // Native addons stay external: they are loaded from node_modules at run time.
  external: ['koffi'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
