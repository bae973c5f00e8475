// Runs our arm64 purgatory on an emulated AArch64 CPU (qemu-system-aarch64 -M virt, bare metal, MMU
// off as after relocate_kernel.S): it must hash real segments correctly, enter the "kernel" with
// x0 = DTB, and stop on a damaged segment. The "kernel" is a tiny stub that prints x0 on the PL011
// and leaves QEMU through semihosting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { finishArm64Purgatory, openArm64Purgatory } from '../src/kexec/arch/arm64/purgatory.ts';
import type { KexecSegment } from '../src/kexec/plan.ts';
import { openElf, sectionData } from '../src/format/elf.ts';
import { BufferSource } from '../src/io/source.ts';

const have = (cmd: string, arg = '--version') => spawnSync(cmd, [arg]).status === 0;
const haveTools = have('llvm-mc') && have('qemu-system-aarch64');
const skip = !haveTools && 'needs llvm-mc (Debian llvm) and qemu-system-aarch64 (qemu-system-arm)';

const STUB = `
	mov	x19, x0
	movz	x20, #0x0900, lsl #16		// PL011 data register of -M virt
	adr	x1, msg
1:	ldrb	w2, [x1], #1
	cbz	w2, 2f
	strb	w2, [x20]
	b	1b
2:	mov	x2, #60
3:	lsr	x1, x19, x2
	and	x1, x1, #0xf
	cmp	x1, #10
	add	x3, x1, #'0'
	add	x1, x1, #('a' - 10)
	csel	x1, x3, x1, lo
	strb	w1, [x20]
	subs	x2, x2, #4
	b.pl	3b
	mov	w1, #10
	strb	w1, [x20]
	mov	x0, #0x18			// semihosting SYS_EXIT
	adr	x1, exitblock
	hlt	#0xf000
	.p2align 3
exitblock: .quad 0x20026, 0
msg:	.asciz "STUB ENTERED x0="
`;

function assemble(dir: string, name: string, source: string): Uint8Array {
  const s = join(dir, name + '.S');
  writeFileSync(s, source);
  const r = spawnSync('llvm-mc', ['-triple=aarch64-linux-gnu', '-filetype=obj', '-o', join(dir, name + '.o'), s], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return new Uint8Array(readFileSync(join(dir, name + '.o')));
}

function pseudoRandom(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    b[i] = seed >>> 24;
  }
  return b;
}

function runPurgatory(corrupt?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'arm64-purg-'));
  const p = openArm64Purgatory(assemble(dir, 'purgatory', readFileSync(new URL('../purgatory/arm64/purgatory.S', import.meta.url), 'utf8')));
  const stubElf = openElf(new BufferSource(assemble(dir, 'stub', STUB)));
  const stub = sectionData(stubElf.source, stubElf.section('.text')!);
  // Lengths chosen to walk every tail path: 35 bytes left (1 padding block), 56 (2 blocks), 0.
  const segs: KexecSegment[] = [
    { what: 'kernel', mem: 0x40200000n, memsz: 0x19000n, buf: pseudoRandom(100003, 1) },
    { what: 'initrd', mem: 0x40400000n, memsz: 0x1000n, buf: pseudoRandom(120, 2) },
    { what: 'dtb', mem: 0x40401000n, memsz: 0x1000n, buf: pseudoRandom(192, 3) },
    { what: 'kernel stub', mem: 0x40300000n, memsz: 0x1000n, buf: stub },
  ];
  const self: KexecSegment = { what: 'purgatory', mem: 0x40100000n, memsz: 0x1000n, buf: p.text };
  const regions = finishArm64Purgatory(p, self, [...segs, self], {
    kernelEntry: 0x40300000n,
    dtb: 0x48000000n,
    sink: 0x09000000n,
    skipChecks: false,
    sha256: (d) => new Uint8Array(createHash('sha256').update(d).digest()),
    ...(corrupt ? { corruptSegment: corrupt } : {}),
  });
  assert.equal(regions.length, 4);
  const args = ['-M', 'virt', '-cpu', 'max', '-m', '256', '-nographic', '-no-reboot', '-semihosting'];
  for (const s of [...segs, self]) {
    const f = join(dir, `${s.mem.toString(16)}.bin`);
    writeFileSync(f, s.buf);
    args.push('-device', `loader,file=${f},addr=0x${s.mem.toString(16)},force-raw=on`);
  }
  args.push('-device', `loader,addr=0x${(self.mem + BigInt(p.entryOffset)).toString(16)},cpu-num=0`);
  const r = spawnSync('qemu-system-aarch64', args, { encoding: 'utf8', timeout: corrupt ? 8000 : 60000, input: '' });
  return r.stdout + r.stderr;
}

test('arm64 purgatory: verifies SHA-256 of every segment on a real AArch64 CPU, then enters the kernel with x0 = DTB', { skip }, () => {
  const out = runPurgatory();
  assert.match(out, /kexec-ts purgatory: verifying segments/);
  assert.match(out, /all SHA-256 digests match, entering the kernel/);
  assert.match(out, /STUB ENTERED x0=0000000048000000/);
});

test('arm64 purgatory: a damaged segment is reported with its address and the kernel is never entered', { skip }, () => {
  const out = runPurgatory('initrd');
  assert.match(out, /SHA-256 mismatch in the segment at 0x0000000040400000; not entering the kernel/);
  assert.doesNotMatch(out, /STUB ENTERED/);
});
