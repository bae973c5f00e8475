// What the bundles get for `fflate` (scripts/build.mjs aliases it here): fflate's browser build,
// evaluated at the first call instead of at start-up. fflate builds its Huffman tables when it is
// evaluated — ~2 ms natively, 0.37 s in an emulated capture kernel (BENCHMARKS.md) — and most runs
// never call it: native zlib inflates the pages and libdeflate compresses them. The browser build:
// the same synchronous code as the Node one, without the node:worker_threads its async API loads.
// Exports what src/ imports from fflate (test/cli/bundle-fflate.test.ts keeps the list complete).
let fflate;
const load = () => (fflate ??= require('../node_modules/fflate/esm/browser.js'));
export const unzlibSync = (...a) => load().unzlibSync(...a);
export const zlibSync = (...a) => load().zlibSync(...a);
export const gunzipSync = (...a) => load().gunzipSync(...a);
/** Called with `new`: returns fflate's own Gunzip, so `new Gunzip(cb)` is one. */
export function Gunzip(...a) {
  return new (load().Gunzip)(...a);
}
