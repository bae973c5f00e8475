import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseLddOutput, readElfDeps } from './elf-deps.ts';
import { sharedLibraries } from '../host/initramfs-collect.ts';
import { FileSource } from '../host/file-source.ts';
import { BufferSource } from '../io/source.ts';

test('elf-deps: node\'s DT_NEEDED libraries and interpreter are the ones ldd resolves', (t) => {
  const ldd = spawnSync('ldd', [process.execPath], { encoding: 'utf8' });
  if (ldd.status !== 0) return t.skip('ldd cannot inspect the node binary here');
  const src = new FileSource(process.execPath);
  const deps = readElfDeps(src);
  src.close();
  assert.match(deps.interpreter ?? '', /ld-linux/);
  assert.ok(deps.needed.includes('libc.so.6'));
  const resolved = parseLddOutput(ldd.stdout);
  // ldd lists a DT_NEEDED dynamic loader (node links ld-linux explicitly) under the interpreter's path
  for (const soname of deps.needed) assert.ok(resolved.has(soname.startsWith('ld-linux') ? deps.interpreter! : soname), `ldd resolves ${soname}`);
  assert.ok(resolved.has(deps.interpreter!));
  const libs = sharedLibraries(process.execPath);
  assert.ok(libs.some((l) => l.endsWith('/libc.so.6')));
  assert.ok(libs.every((l) => existsSync(l)));
});

test('elf-deps: a static executable needs nothing', (t) => {
  if (!existsSync('/bin/busybox')) return t.skip('busybox-static is not installed');
  assert.deepEqual(readElfDeps(new FileSource('/bin/busybox')), { interpreter: undefined, needed: [], runpath: [] });
  assert.deepEqual(sharedLibraries('/bin/busybox'), []);
});

test('elf-deps: not an ELF file is a ParseError at offset 0', () => {
  assert.throws(() => readElfDeps(new BufferSource(new Uint8Array(64).fill(0x41))), { name: 'ParseError', offset: 0 });
});

test('elf-deps: ldd output with an unresolved library is an error naming it', () => {
  assert.throws(() => parseLddOutput('\tlibfoo.so.1 => not found\n'), /libfoo/);
  assert.deepEqual([...parseLddOutput('\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f00)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f01)\n')], [
    ['libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6'],
    ['/lib64/ld-linux-x86-64.so.2', '/lib64/ld-linux-x86-64.so.2'],
  ]);
});
