// koffi's addon is loaded directly from its prebuilt package on glibc Linux (src/host/koffi.ts),
// skipping koffi's own loader; the functions the syscalls and codecs bind must work the same.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { loadKoffi } from '../src/host/koffi.ts';

// (with musl's loader on the machine too, koffi's own loader decides: not this case)
const glibcX64 = process.platform === 'linux' && process.arch === 'x64' && !existsSync('/lib/ld-musl-x86_64.so.1');

test('koffi: on glibc x86-64 the prebuilt addon itself is loaded (not koffi\'s loader), and a C function bound through it runs (getpid)', { skip: glibcX64 ? false : 'glibc x86-64 only' }, () => {
  const koffi = loadKoffi();
  const addon = createRequire(import.meta.url)('@koromix/koffi-linux-x64/linux_x64/koffi.node');
  assert.equal(koffi, addon);
  assert.equal(koffi.load('libc.so.6').func('int getpid()')(), process.pid);
  assert.equal(typeof koffi.errno(), 'number');
});
