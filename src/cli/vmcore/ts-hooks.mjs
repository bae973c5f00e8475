// Module hooks for `vmcore-ts run` (registered with node:module register()): TypeScript scripts
// run without a build step, their types stripped by amaro (Node's own type stripper, WebAssembly,
// the same that Node 22.6+ uses for --experimental-strip-types); `import … from 'kexec-ts'` in a
// script resolves to this installation's API, so a script needs no node_modules of its own.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'amaro';

let apiUrl;

/** @param {{ apiUrl: string }} data */
export function initialize(data) {
  apiUrl = data.apiUrl;
}

export async function resolve(specifier, context, next) {
  if (specifier === 'kexec-ts' && apiUrl) return { url: apiUrl, shortCircuit: true };
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && /\.m?ts$/.test(url) && !url.includes('/node_modules/')) {
    const path = fileURLToPath(url);
    const source = await readFile(path, 'utf8');
    let code;
    try {
      code = transformSync(source, { mode: 'strip-only', filename: path }).code;
    } catch (e) {
      // amaro's errors carry the position in the message; make it one line naming the file.
      const err = new SyntaxError(`${path}: ${String(e?.message ?? e).split('\n')[0]}`);
      err.code = 'ERR_SCRIPT_SYNTAX';
      throw err;
    }
    return { format: 'module', source: code, shortCircuit: true };
  }
  return next(url, context);
}
