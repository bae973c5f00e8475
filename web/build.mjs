// Builds the viewer into one self-contained file, dist/web/viewer.html: the worker bundle is
// inlined into the page script (as a blob: worker), the page script into the HTML. One file works
// served by `vmcore-ts serve` and opened from disk. The collector's fleet page (web/fleet.ts) the
// same way: dist/web/fleet.html.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Whole or not at all: tests rebuild the viewer while others may be copying dist/ into a .deb. */
const put = (path, text) => {
  writeFileSync(`${path}.${process.pid}.tmp`, text);
  renameSync(`${path}.${process.pid}.tmp`, path);
};
const common = { bundle: true, platform: 'browser', format: 'iife', target: 'chrome110', write: false, minify: true, logLevel: 'warning' };
const worker = await build({ ...common, entryPoints: [join(root, 'web/worker.ts')] });
const app = await build({ ...common, entryPoints: [join(root, 'web/app.ts')], define: { WORKER_SOURCE: JSON.stringify(worker.outputFiles[0].text) } });
const html = readFileSync(join(root, 'web/index.html'), 'utf8');
const script = app.outputFiles[0].text.replace(/<\/script/gi, '<\\/script');
const out = join(root, 'dist/web/viewer.html');
mkdirSync(dirname(out), { recursive: true });
put(out, html.replace('<script>/*APP*/</script>', () => `<script>${script}</script>`));

const fleet = await build({ ...common, entryPoints: [join(root, 'web/fleet.ts')] });
const fleetHtml = readFileSync(join(root, 'web/fleet.html'), 'utf8');
put(join(root, 'dist/web/fleet.html'), fleetHtml.replace('<script>/*APP*/</script>', () => `<script>${fleet.outputFiles[0].text.replace(/<\/script/gi, '<\\/script')}</script>`));
