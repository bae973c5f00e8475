// harness/arm64-reftools.ts resolveNeeded: the shared objects an executable loads, by DT_NEEDED,
// recursively, each soname from the first root that has it — checked on this host's node binary
// (against / as the only root, and with a tree in front that overrides one library), and a soname
// found in no root fails naming it and who needs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveNeeded } from './arm64-reftools.ts';
import { readElfDeps } from '../../src/initramfs/elf-deps.ts';
import { FileSource } from '../../src/host/file-source.ts';

const multiarch = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu'].find((d) => existsSync(join(d, 'libc.so.6')));
const skip = !multiarch && 'no Debian multiarch libc here';
const libDirs = multiarch ? [multiarch.slice(1), multiarch.slice(5), 'usr/lib', 'lib'] : [];

test('arm64 reference tools: resolveNeeded follows DT_NEEDED recursively (node -> libc.so.6 -> the loader), first root wins, every library once', { skip }, () => {
  const src = new FileSource(process.execPath);
  const { needed: direct, interpreter } = readElfDeps(src);
  src.close();
  const libs = resolveNeeded([process.execPath], [{ dir: '/', from: 'host' }], libDirs);
  const names = libs.map((l) => l.soname);
  for (const n of direct) assert.ok(names.includes(n), `${n} (DT_NEEDED of node) resolved`);
  assert.equal(new Set(names).size, names.length, 'each soname once');
  assert.ok(libs.every((l) => existsSync(l.path) && l.from === 'host'));
  const dir = mkdtempSync(join(tmpdir(), 'reftools-'));
  try {
    const lib = join(dir, multiarch!.slice(1));
    mkdirSync(lib, { recursive: true });
    copyFileSync(join(multiarch!, 'libc.so.6'), join(lib, 'libc.so.6'));
    const over = resolveNeeded([process.execPath], [{ dir, from: 'pkg' }, { dir: '/', from: 'host' }], libDirs);
    assert.deepEqual(over.filter((l) => l.from === 'pkg').map((l) => l.soname), ['libc.so.6']);
    assert.equal(over.find((l) => l.soname === 'libc.so.6')!.path, join(lib, 'libc.so.6'));
    // a root with the interpreter but without node's other libraries: the first missing one is named with who needs it
    mkdirSync(join(dir, interpreter!, '..'), { recursive: true });
    copyFileSync(interpreter!, join(dir, interpreter!));
    assert.throws(() => resolveNeeded([process.execPath], [{ dir, from: 'pkg' }], libDirs), (e: Error) => /(\S+\.so[.\d]*) \(needed by node\) is in neither/.test(e.message) && e.message.includes('pkg: '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
