// Crash signatures (src/analyze/signature.ts): the bucket of the bundled 6.1 sysrq crash, and the
// rules that keep buckets stable across boots, KASLR and builds. The cross-kernel and
// other-crash checks run on real dumps in e2e/kdump.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { buildSummary, formatSummary, summaryJson } from '../../src/analyze/summary.ts';
import { baseFunctionName, crashReasonLine, normaliseReason, signatureFrames } from '../../src/analyze/signature.ts';
import type { Frame } from '../../src/analyze/arch/x86_64/unwind.ts';
import type { Regs } from '../../src/analyze/arch/x86_64/regs.ts';
import type { LogRecord } from '../../src/analyze/printk.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';

test('signature of the bundled 6.1 sysrq crash: reason, the frames below panic without offsets or .cold, in summary text and JSON', () => {
  const s = buildSummary(new KernelDump(openDump(new FileSource(DUMP))));
  assert.equal(s.signature.reason, 'sysrq triggered crash');
  assert.deepEqual(s.signature.frames, ['sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write']);
  assert.equal(s.signature.release, '6.1.0-56-cloud-amd64');
  assert.equal(s.signature.module, undefined, 'the top frame is in the kernel image');
  assert.match(s.signature.bucket, /^[0-9a-f]{16}$/);
  assert.match(formatSummary(s), new RegExp(`^ BUCKET: ${s.signature.bucket}  sysrq triggered crash  @ sysrq_handle_crash < __handle_sysrq`, 'm'));
  assert.deepEqual((summaryJson(s) as { signature: unknown }).signature, s.signature);
});

test('signature names: compiler clone suffixes are dropped, the name itself kept', () => {
  assert.equal(baseFunctionName('__handle_sysrq.cold'), '__handle_sysrq');
  assert.equal(baseFunctionName('foo.isra.0'), 'foo');
  assert.equal(baseFunctionName('bar.constprop.0.cold'), 'bar');
  assert.equal(baseFunctionName('ext4_iget'), 'ext4_iget');
});

test('signature reason: addresses and numbers masked, the panic prefix dropped, identifiers with digits kept', () => {
  assert.equal(normaliseReason('BUG: kernel NULL pointer dereference, address: 0000000000000008'), 'BUG: kernel NULL pointer dereference, address: <hex>');
  assert.equal(normaliseReason('kernel BUG at fs/ext4/inode.c:1234!'), 'kernel BUG at fs/ext4/inode.c:<n>!');
  assert.equal(normaliseReason('Kernel panic - not syncing: hung_task: blocked tasks'), 'hung_task: blocked tasks');
  assert.equal(normaliseReason('general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI'), 'general protection fault, probably for non-canonical address <hex>: <n> [#<n>] SMP NOPTI');
});

const record = (line: string): LogRecord => ({ seq: 0n, tsNsec: 0n, level: 0, facility: 0, flags: 0, callerId: undefined, text: new TextEncoder().encode(line) }) as LogRecord;

test('signature reason of an oops: the oops line, not the "Fatal exception" panic that follows it', () => {
  const records = ['BUG: kernel NULL pointer dereference, address: 0000000000000000', 'Oops: 0002 [#1] SMP NOPTI', 'Kernel panic - not syncing: Fatal exception'].map(record);
  assert.equal(crashReasonLine(records, 'Kernel panic - not syncing: Fatal exception'), 'Oops: 0002 [#1] SMP NOPTI');
  assert.equal(crashReasonLine(records, 'Kernel panic - not syncing: sysrq triggered crash'), 'Kernel panic - not syncing: sysrq triggered crash');
});

const frame = (name: string | undefined, regs = false, module?: string): Frame => ({
  pc: 0xffffffff81000000n,
  sp: 0n,
  method: 'orc',
  symbol: name === undefined ? undefined : { name, offset: 0n, module },
  regs: regs ? ({} as Regs) : undefined,
});

test('signature frames: the oops machinery down to its exception boundary is skipped; the faulting module is the top frame\'s', () => {
  const oops = [frame('__crash_kexec'), frame('oops_end'), frame('page_fault_oops'), frame('exc_page_fault'), frame('asm_exc_page_fault', true), frame('mydrv_ioctl', false, 'mydrv'), frame('__x64_sys_ioctl')];
  assert.deepEqual(signatureFrames(oops), { names: ['mydrv_ioctl', '__x64_sys_ioctl'], module: 'mydrv' });
  // A panic called directly: only the panic frames go; an interrupt below the crash is kept.
  const direct = [frame('panic'), frame('watchdog'), frame(undefined), frame('kthread')];
  assert.deepEqual(signatureFrames(direct), { names: ['watchdog', '?', 'kthread'], module: undefined });
});
