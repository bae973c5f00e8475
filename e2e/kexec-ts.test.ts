// Real kernels: kexec-ts loads and boots the next kernel through BOTH syscalls — kexec_load (-c: our
// bzImage loader and our purgatory) then kexec_file_load (-s: the kernel's loader) — and the next
// kernel sees exactly the command line we gave and an intact initrd. A third hop boots the ELF
// vmlinux (gzip'd, from the bzImage's payload) through our ELF loader (-c), after kexec-tools planned
// the same file: both put its PT_LOADs in the same kexec segments. A load with one segment damaged
// after its digest was taken (--debug-corrupt-segment) makes our purgatory report the mismatch on the
// serial console and halt instead of starting the kernel (that run ends when the halt message appears).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { runScenario, MARK_RE, type ScenarioSpec } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { getKernel } from './harness/kernels.ts';
import { koffiBinaryFiles, vmlinuxGzFromBzImage } from './kexec-ts-files.ts';
import { kexecDebugSegments } from '../test/kexec/fixture.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;

/** Loads KERNEL (the bzImage) + initrd for stage NEXT with `kexec-ts FLAGS -l`, then `kexec-ts -e`. */
const kexecTsInto = (next: string, flags: string, extra = '', kernel = '/scratch/boot/vmlinuz') => `
C="$(stage_cmdline ${next} e2e.via=ts${flags.replace(/[\s-]+/g, '')})"
mark want-cmdline "$C"
check kexec-ts-load kexec-ts ${flags} -l ${kernel} --initrd=/scratch/boot/initrd.img --command-line="$C" ${extra}
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"
kexec-ts -S -l > /dev/null || fail "kexec-ts -S -l says nothing is loaded"
prepare_kexec
mark kexec-e
kexec-ts -e
fail "kexec-ts -e returned $?"
`;

const proveBoot = `
mark cmdline "$(cat /proc/cmdline)"
mark payload-sha256 "$(sha256sum /e2e/payload.bin | cut -d' ' -f1)"
`;

/**
 * The ELF vmlinux (gzip'd, from the bzImage's payload): kexec-tools' `kexec -c -d -l` plans it first
 * (its -d lines kept on the scratch disk, then unloaded; Debian builds kexec-tools without zlib, so
 * it gets the file gunzip'd; --args-linux: its ELF loader defaults to ELF boot notes, which take no
 * initrd — ours always uses the Linux boot protocol), then kexec-ts -c -d -l loads the .gz with the
 * same command line and boots it.
 */
const VMLINUX = '/e2e/vmlinux.gz';
const elfHop = (next: string) => `
C="$(stage_cmdline ${next} e2e.via=tselfc)"
gunzip -c ${VMLINUX} > /tmp/vmlinux
kexec -c -d -l /tmp/vmlinux --args-linux --initrd=/scratch/boot/initrd.img --command-line="$C" > /scratch/elf-kexec-d.txt 2>&1 || mark kexec-tools-elf-failed "$(tail -n 1 /scratch/elf-kexec-d.txt)"
kexec -c -u
rm /tmp/vmlinux
${kexecTsInto(next, '-c', `-d 2> /scratch/elf-kexec-ts-d.txt`, VMLINUX)}`;

export function kexecTsScenario(suite: string, payload: Uint8Array, vmlinuxGz: string): ScenarioSpec {
  return {
    name: 'kexec-ts',
    suite,
    cpu: 'max',
    memoryMiB: 1024,
    files: { 'e2e/payload.bin': payload, 'e2e/vmlinux.gz': { host: vmlinuxGz }, ...koffiBinaryFiles() },
    stages: {
      // -e with nothing loaded must refuse (and not reboot).
      first: `
kexec-ts -e 2> /tmp/e.txt && fail "kexec-ts -e with nothing loaded returned 0"
mark refuse-exec "$(cat /tmp/e.txt)"
${kexecTsInto('second', '-c')}`,
      second: proveBoot + kexecTsInto('third', '-s'),
      third: proveBoot + elfHop('fourth'),
      fourth: proveBoot,
    },
    expect: ['first:refuse-exec', 'second:cmdline', 'second:payload-sha256', 'third:cmdline', 'third:payload-sha256', 'fourth:cmdline', 'fourth:payload-sha256'],
    timeoutMs: 10 * 60_000,
    ...(log ? { log } : {}),
  };
}

/** One segment damaged after its digest was taken: ends in the purgatory's halt loop; the run ends on its message. */
export function corruptSegmentScenario(suite: string): ScenarioSpec {
  return {
    name: 'kexec-ts-corrupt',
    suite,
    cpu: 'max',
    memoryMiB: 1024,
    files: koffiBinaryFiles(),
    stages: { first: kexecTsInto('never', '-c', '--debug-corrupt-segment initrd'), never: 'mark started-with-corrupt-initrd\n' },
    endOn: /not starting the new kernel; halting/,
    timeoutMs: Number(process.env.E2E_KEXEC_TS_CORRUPT_TIMEOUT_MS ?? 300_000),
    ...(log ? { log } : {}),
  };
}

function markers(consoleText: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of consoleText.split('\n')) {
    const x = MARK_RE.exec(line.replace(/\r$/, ''));
    if (x && !m.has(`${x[1]}:${x[2]}`)) m.set(`${x[1]}:${x[2]}`, x[4]!.trim());
  }
  return m;
}

for (const suite of suites()) {
  test(`e2e ${suite}: kexec-ts -c -l (our purgatory) then -s -l boot the next kernel with the exact command line and an intact initrd`, async (t) => {
    if (cannotRun(t)) return;
    await orSkipOnDownload(t, async () => {
      const payload = randomBytes(64 * 1024);
      const sha = createHash('sha256').update(payload).digest('hex');
      const kernel = await getKernel(suite);
      const r = await runScenario(kexecTsScenario(suite, payload, vmlinuxGzFromBzImage(kernel.vmlinuz, kernel.release)));
      assert.match(r.marker('first', 'refuse-exec').value, /nothing has been loaded/, 'kexec-ts -e refuses with nothing loaded');
      for (const [from, to] of [['first', 'second'], ['second', 'third'], ['third', 'fourth']] as const) {
        assert.equal(r.marker(to, 'cmdline').value, r.marker(from, 'want-cmdline').value, `${to} kernel sees exactly the command line`);
        assert.equal(r.marker(to, 'payload-sha256').value, sha, `${to} kernel's initrd is intact`);
      }
      assert.match(r.console, /kexec-ts purgatory: segments verified, starting the new kernel/, 'our purgatory verified the -c load');
      // The ELF vmlinux: its PT_LOADs are the same kexec segments in kexec-tools' plan and ours.
      const theirs = r.disk.readFile('elf-kexec-d.txt').toString();
      const ours = r.disk.readFile('elf-kexec-ts-d.txt').toString();
      assert.equal(r.find('third', 'kexec-tools-elf-failed'), undefined, `kexec -c -d -l vmlinux.gz failed:\n${theirs}`);
      const kernelSegments = (text: string) => kexecDebugSegments(text).filter((x) => x.mem >= 0x1000000n && x.memsz >= 0x10000n && x.mem < 0x10000000n);
      assert.deepEqual(kernelSegments(ours), kernelSegments(theirs), `vmlinux PT_LOAD segments differ\n--- kexec -d ---\n${theirs}\n--- kexec-ts -d ---\n${ours}`);
      assert.match(ours, /gzip-compressed/);
      t.diagnostic(`kexec-ts -e -> next /init: ${((r.marker('second', 'boot').hostMs - r.marker('first', 'kexec-e').hostMs) / 1000).toFixed(1)} s (kexec_load, our purgatory), ${((r.marker('third', 'boot').hostMs - r.marker('second', 'kexec-e').hostMs) / 1000).toFixed(1)} s (kexec_file_load), ${((r.marker('fourth', 'boot').hostMs - r.marker('third', 'kexec-e').hostMs) / 1000).toFixed(1)} s (ELF vmlinux)`);
      if (log) log(`--- kexec -c -d -l vmlinux.gz ---\n${theirs}\n--- kexec-ts -c -d -l vmlinux.gz ---\n${ours}`);
      recordTimings(r, 'kexec-ts');
      for (const line of timingSummary(r).split('\n')) t.diagnostic(line);
      r.cleanup();
    });
  });

  test(`e2e ${suite}: a segment damaged after hashing makes our purgatory halt instead of starting the kernel`, async (t) => {
    if (cannotRun(t)) return;
    await orSkipOnDownload(t, async () => {
      const r = await runScenario(corruptSegmentScenario(suite));
      recordTimings(r, 'kexec-ts-corrupt-segment');
      for (const line of timingSummary(r).split('\n')) t.diagnostic(line);
      const consoleText = r.console;
      r.cleanup();
      const m = markers(consoleText);
      const report = `\n--- console tail ---\n${consoleText.split('\n').slice(-30).join('\n')}`;
      assert.ok(m.has('first:kexec-e'), 'reached kexec-ts -e with the corrupted load' + report);
      assert.match(consoleText, /kexec-ts purgatory: SHA-256 mismatch in segment at 0x[0-9a-f]+/, 'purgatory reports the damaged segment' + report);
      assert.match(consoleText, /not starting the new kernel; halting/);
      assert.ok(!m.has('never:started-with-corrupt-initrd') && !m.has('never:boot'), 'no kernel started after the mismatch');
    });
  });
}
