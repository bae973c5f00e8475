// The layering of src/ and web/ (ARCHITECTURE.md, issue 11), checked from the code's own imports:
//   io <- format <- analyze <- dump (save)        format <- kexec <- kdump        (initramfs and boot beside kexec)
//   host (the only Node/koffi code) and cli (argv -> library -> print) may use any library folder;
//   web (the viewer) uses only io, format and analyze; src/*.ts (errors, did-you-mean) is shared by all.
// Every violation is named as "FILE imports TARGET: RULE". Imports that break a rule today because
// another part of issue 11 is not done yet are listed in KNOWN_EXCEPTIONS below; the list can only
// shrink: an exception that no longer occurs fails the test too (delete it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What each folder may import besides itself ('base' = src/*.ts). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  base: [],
  io: ['base'],
  format: ['io', 'base'],
  analyze: ['format', 'io', 'base'],
  dump: ['analyze', 'format', 'io', 'base'],
  api: ['analyze', 'format', 'io', 'base'],
  kexec: ['format', 'io', 'base'],
  initramfs: ['format', 'io', 'base'],
  kdump: ['kexec', 'initramfs', 'format', 'io', 'base'],
  boot: ['kexec', 'format', 'io', 'base'],
  collect: ['dump', 'analyze', 'format', 'io', 'base'],
  host: ['api', 'collect', 'boot', 'kdump', 'kexec', 'initramfs', 'dump', 'analyze', 'format', 'io', 'base'],
  cli: ['api', 'host', 'collect', 'boot', 'kdump', 'kexec', 'initramfs', 'dump', 'analyze', 'format', 'io', 'base'],
  web: ['api', 'analyze', 'format', 'io', 'base'],
};
/** The only folders that may import node:* (or a bare Node built-in) and koffi. */
const NODE_FOLDERS = new Set(['host', 'cli']);

/**
 * Imports that break a rule today, each removed by a named item of issue 11 (owner in brackets).
 * `target` is a repository path, or 'node:*' for all of a file's Node imports, or 'koffi'.
 */
const KNOWN_EXCEPTIONS: readonly { file: string; target: string; removedBy: string }[] = [];

interface Import {
  file: string;
  spec: string;
  /** Repository path for a relative import; the module name otherwise. */
  target: string;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(REPO, dir))) {
    const p = join(dir, name);
    if (statSync(join(REPO, p)).isDirectory()) sourceFiles(p, out);
    // Tests (node:test) and web/build.mjs (the viewer's esbuild script, run by Node) are not library code.
    else if (/\.(ts|mjs|js)$/.test(name) && !name.endsWith('.test.ts') && p !== 'web/build.mjs') out.push(p);
  }
  return out;
}

const IMPORT_RE = [
  /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import x from '…' / export … from '…' (one or more lines)
  /^\s*import\s*['"]([^'"]+)['"]/gm, // import '…'
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('…')
  /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g, // require('…')
  /createRequire\([^)]*\)(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g, // createRequire(url)('koffi'), .resolve('koffi')
];

function importsOf(file: string): Import[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const out: Import[] = [];
  for (const re of IMPORT_RE) {
    for (const m of text.matchAll(re)) {
      const spec = m[1]!;
      const target = spec.startsWith('.') ? relative(REPO, resolve(REPO, dirname(file), spec)) : spec;
      out.push({ file, spec, target });
    }
  }
  return out;
}

/** src/X/… -> X, src/file.ts -> base, web/… -> web. */
function folderOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts[0] === 'web') return 'web';
  if (parts[0] !== 'src') return undefined;
  return parts.length === 2 ? 'base' : parts[1];
}

const NODE_BUILTINS = new Set(builtinModules);
const isNode = (spec: string) => spec.startsWith('node:') || NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(spec.split('/')[0]!);

interface Violation {
  file: string;
  target: string;
  text: string;
}

function violations(): { found: Violation[]; edges: Map<string, Import[]>; folders: Set<string> } {
  const found: Violation[] = [];
  const edges = new Map<string, Import[]>();
  const folders = new Set<string>();
  for (const file of [...sourceFiles('src'), ...sourceFiles('web')]) {
    const from = folderOf(file)!;
    folders.add(from);
    if (!(from in MAY_IMPORT)) {
      found.push({ file, target: file, text: `${file}: folder src/${from}/ has no place in the layers (add it to MAY_IMPORT and ARCHITECTURE.md)` });
      continue;
    }
    for (const imp of importsOf(file)) {
      if (isNode(imp.spec) || imp.spec === 'koffi') {
        if (!NODE_FOLDERS.has(from)) {
          const target = imp.spec === 'koffi' ? 'koffi' : 'node:*';
          found.push({ file, target, text: `${file} imports ${imp.spec}: only src/host/ and src/cli/ may import node:* or koffi` });
        }
        continue;
      }
      const to = folderOf(imp.target);
      if (to === undefined || to === from) continue; // a package (fflate, …) or the same folder
      if (!MAY_IMPORT[from]!.includes(to)) {
        const may = MAY_IMPORT[from]!.length ? MAY_IMPORT[from]!.join(', ') : 'nothing';
        found.push({ file, target: imp.target, text: `${file} imports ${imp.target}: ${from} may import only ${may}` });
      }
      const key = `${from} -> ${to}`;
      if (!edges.has(key)) edges.set(key, []);
      edges.get(key)!.push(imp);
    }
  }
  return { found, edges, folders };
}

const isExcepted = (v: { file: string; target: string }) => KNOWN_EXCEPTIONS.some((e) => e.file === v.file && e.target === v.target);

test('architecture: the allowed layers themselves have no cycle', () => {
  const seen = new Set<string>();
  const visit = (f: string, path: string[]): void => {
    assert.ok(!path.includes(f), `MAY_IMPORT has a cycle: ${[...path, f].join(' -> ')}`);
    if (seen.has(f)) return;
    for (const g of MAY_IMPORT[f] ?? []) visit(g, [...path, f]);
    seen.add(f);
  };
  for (const f of Object.keys(MAY_IMPORT)) visit(f, []);
});

test('architecture: every import of src/ and web/ keeps the layers and the Node/koffi edge (known exceptions aside)', () => {
  const { found } = violations();
  const fresh = found.filter((v) => !isExcepted(v)).map((v) => v.text);
  assert.deepEqual([...new Set(fresh)], [], `imports that break ARCHITECTURE.md's rules:\n  ${[...new Set(fresh)].join('\n  ')}`);
});

test('architecture: every known exception still occurs (the list only shrinks: delete the ones fixed)', () => {
  const { found } = violations();
  const gone = KNOWN_EXCEPTIONS.filter((e) => !found.some((v) => v.file === e.file && v.target === e.target));
  assert.deepEqual(gone.map((e) => `${e.file} -> ${e.target}`), [], 'these exceptions no longer occur: remove them from KNOWN_EXCEPTIONS');
});

test('architecture: no cycle between folders (excepted imports aside), each cycle named by its imports', () => {
  const { edges } = violations();
  const graph = new Map<string, Map<string, Import[]>>();
  for (const [key, imps] of edges) {
    const kept = imps.filter((i) => !isExcepted(i));
    if (kept.length === 0) continue;
    const [a, b] = key.split(' -> ') as [string, string];
    if (!graph.has(a)) graph.set(a, new Map());
    graph.get(a)!.set(b, kept);
  }
  const cycles: string[] = [];
  const done = new Set<string>();
  const walk = (f: string, path: string[]): void => {
    const at = path.indexOf(f);
    if (at >= 0) {
      const loop = [...path.slice(at), f];
      cycles.push(loop.slice(1).map((g, i) => `${loop[i]} -> ${g} (${graph.get(loop[i]!)!.get(g)![0]!.file} imports ${graph.get(loop[i]!)!.get(g)![0]!.target})`).join(', '));
      return;
    }
    if (done.has(f)) return;
    for (const g of graph.get(f)?.keys() ?? []) walk(g, [...path, f]);
    done.add(f);
  };
  for (const f of graph.keys()) walk(f, []);
  assert.deepEqual(cycles, [], `folder cycles:\n  ${cycles.join('\n  ')}`);
});

test('architecture: the checker sees a violation when there is one (a kexec file importing node:fs, koffi, kdump)', () => {
  // The same rules on a made-up file, so a broken IMPORT_RE cannot make the suite pass vacuously.
  const fake = "import { readFileSync } from 'node:fs';\nimport {\n  x,\n} from '../kdump/config.ts';\nconst k = createRequire(import.meta.url)('koffi');\nawait import('../host/syscalls.ts');\n";
  const specs = IMPORT_RE.flatMap((re) => [...fake.matchAll(re)].map((m) => m[1]));
  assert.deepEqual(specs.sort(), ['../host/syscalls.ts', '../kdump/config.ts', 'koffi', 'node:fs']);
  assert.ok(!MAY_IMPORT.kexec!.includes('kdump') && !MAY_IMPORT.kexec!.includes('host') && !NODE_FOLDERS.has('kexec'));
  assert.ok(importsOf('src/host/koffi.ts').some((i) => i.spec === 'koffi'), 'koffi loaded through createRequire is seen');
});
