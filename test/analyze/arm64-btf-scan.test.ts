// BTF of an arm64 kernel without data symbols in kallsyms (Debian bookworm's: no __start_BTF) is
// found by its header in the image; the scan starts at _etext (.BTF lies in the read-only data after
// the text), which halves what `vmcore-ts summary` reads (and on a compressed dump inflates) for the
// unwinder's struct pt_regs. On the cached QEMU ELF dump of the bookworm arm64 guest
// (e2e/harness/arm64-dump.ts; skipped without it).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';

const raw = join(process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts'), 'vmcore', 'arm64-bookworm.elf');

test('arm64 bookworm dump without __start_BTF: BTF is found by its header scanning from _etext, reading under 12 MiB (from _stext: 20 MiB)', { skip: existsSync(raw) ? false : `no cached ${raw} (E2E_ARM64=1 e2e/arm64-vmcore makes it)` }, () => {
  const src = new FileSource(raw);
  let bytes = 0;
  const read = src.read.bind(src);
  src.read = (offset: number, length: number) => {
    bytes += length;
    return read(offset, length);
  };
  const kd = new KernelDump(openDump(src));
  assert.equal(kd.symbols.byName('__start_BTF'), undefined, 'kallsyms has no data symbols');
  const etext = kd.symbols.byName('_etext')?.address;
  assert.ok(etext !== undefined);
  const before = bytes;
  const btf = kd.btf;
  assert.ok(btf.find('struct pt_regs'), 'the BTF found has struct pt_regs');
  assert.equal(btf.bytes.length, 4214189, 'the whole .BTF section of 6.1.0-50-cloud-arm64');
  assert.ok(bytes - before < 12 << 20, `read ${bytes - before} bytes for BTF`);
  src.close?.();
});
