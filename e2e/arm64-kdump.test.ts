// Issue 15: a real arm64 kdump cycle. Debian's arm64 cloud kernel in qemu-system-aarch64 (TCG, -M
// virt, -cpu cortex-a72, 2 CPUs, crashkernel=512M) with Node 20 and our bundle in the initramfs:
// `kexec-ts -p -d` (kexec_load: Debian's arm64 kernels have no KEXEC_FILE; our arm64 core header,
// linux,elfcorehdr + linux,usable-memory-range in the DTB, our purgatory) → sysrq-c → the capture
// kernel boots from the crash region with /proc/vmcore → `vmcore-ts save -c -d 31` there → the dump
// read back on the host (harness/arm64-kdump.ts). Checked: the core header's lines, the capture
// kernel's command line, `vmcore-ts info/dmesg/bt` of the dump; dmesg = drgn 0.3.0's get_dmesg and
// the panic task's frames = drgn's (sid root) for both; bookworm 6.1 (48-bit VA): dmesg = Debian
// arm64 makedumpfile 1.7.8's --dump-dmesg of the same file (under qemu-user); trixie 6.12 (a 52-bit
// VA kernel, here on a 48-bit CPU): makedumpfile 1.7.8 refuses it, which is asserted.
// -cpu cortex-a72: trixie's 6.12 on an LPA2 CPU (-cpu max) oopses inside kexec_load (README).
// npm test runs one cycle, trixie through kdump-ts, with our own checks (header, capture, info,
// dmesg, bt); the oracles (drgn in the sid root, arm64 makedumpfile under qemu-user, the -dbg
// vmlinux) and the other two cases are opt-in: E2E_ARM64=1 or --all (E2E_SUITES=all); E2E_SUITES=none
// skips it with the other QEMU scenarios. The reference cycles (bottom: Debian's kexec-tools and
// makedumpfile in the guest, bookworm and trixie) are opt-in too. Wall time: see README "arm64 kdump".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { arm64KdumpCycle, CAPTURE_CMDLINE } from './harness/arm64-kdump.ts';
import { REF_MAKEDUMPFILE_SUITE } from './harness/arm64-reftools.ts';
import { arm64Makedumpfile, baseName, callerColumnAsKernel, drgnCallFrames, drgnReference, keptAndZero } from './harness/arm64-oracles.ts';
import { assertCrashPlanIsKexecTools } from '../test/arm64-fixture.ts';
import { cacheDir } from './harness/cache.ts';
import { getDebugVmlinux } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotMakeRoot } from '../test/packaging/debian-root.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const asked = process.env.E2E_ARM64 === '1' || process.env.E2E_SUITES === 'all';
const none = (process.env.E2E_SUITES ?? '').trim() === 'none';
/** Whether a case runs: the CI one always (but with E2E_SUITES=none), the others when asked. */
const skipOf = (ci: boolean) =>
  none && !asked ? 'E2E_SUITES=none: no QEMU scenarios' : asked || ci ? false : 'set E2E_ARM64=1 (or --all) for this arm64 kdump cycle (QEMU aarch64, about 3 minutes a suite)';
const log = process.env.E2E_VERBOSE ? (s: string) => console.error(`[arm64-kdump] ${s}`) : () => {};

function vmcoreTs(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `${REPO}/src/cli/vmcore-ts.ts`, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 5 * 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

interface BtJson { backtraces: { pid: number; cpu: number; frames: { function?: string }[]; stop: string }[] }

const CASES = [
  { suite: 'bookworm', via: 'kexec-ts', ci: false },
  { suite: 'trixie', via: 'kexec-ts', ci: false },
  { suite: 'trixie', via: 'kdump-ts', ci: true },
] as const;

for (const { suite, via, ci } of CASES) {
  const skip = skipOf(ci);
  /** The reference tools too (drgn, makedumpfile, the -dbg vmlinux): when asked for. */
  const oracles = asked;
  const how = via === 'kexec-ts' ? 'kexec-ts -p -d loads our arm64 core header and purgatory' : 'kdump-ts mkinitrd/estimate/load/status on arm64 (Debian node in its capture initramfs)';
  test(`e2e arm64 kdump ${suite} (cortex-a72) via ${via}: ${how}, sysrq-c boots the capture kernel, vmcore-ts save -d 31 in it; the dump's dmesg = drgn's${suite === 'bookworm' ? " = makedumpfile 1.7.8's" : ''}, bt of the panic task = drgn's`, { skip, timeout: 40 * 60_000 }, async () => {
    const t0 = Date.now();
    const out = join(cacheDir('vmcore'), `arm64-kdump-${suite}-${via}`);
    const r = await arm64KdumpCycle(suite, out, log, undefined, via);
    const consoleText = readFileSync(r.console, 'latin1').replace(/\r/g, '');
    if (via === 'kdump-ts') {
      // The service on arm64: its capture initramfs (Node in it), the estimate from the Image header, the load, status.
      assert.match(consoleText, /^e2e: kdump-ts mkinitrd rc=0 /m);
      assert.match(consoleText, /capture mode: initramfs/);
      assert.match(consoleText, /kernel +[\d.]+ MiB +arm64 Image text_offset \+ image_size/);
      assert.match(consoleText, /^e2e: kdump-ts load rc=0 .*kexec_crash_loaded=1/m);
      assert.match(consoleText, /^core header: +2 CPU notes, VMCOREINFO, kernel text 0xffff[0-9a-f]+ .*linear map pa \+ 0x[0-9a-f]+$/m);
      assert.match(consoleText, /^ready: +yes$/m);
      assert.match(consoleText, /kexec-ts purgatory: verifying segments/);
      assert.match(consoleText, /^kdump-ts: saved \/mnt\/target\/\d{8}-\d{6}\/vmcore$/m);
    } else {
      // The crash load: kexec_load (no kexec_file on Debian arm64), our header's program headers, loaded.
      assert.match(r.kexecDebug, /kexec_file_load failed: .*ENOSYS.*; falling back to kexec_load/);
      assert.match(r.kexecDebug, /^Elf header: p_type = 4, /m);
      assert.match(r.kexecDebug, /^vmcoreinfo header: p_type = 4, /m);
      assert.match(r.kexecDebug, /^Kernel text Elf header: p_type = 1, p_offset = 0x[0-9a-f]+ p_paddr = 0x[0-9a-f]+ p_vaddr = 0xffff[0-9a-f]{12} /m);
      assert.match(r.kexecDebug, /^load_crashdump_segments: elfcorehdr 0x[0-9a-f]+-0x[0-9a-f]+$/m);
      assert.match(consoleText, /e2e: kexec-ts -p rc=0 .*kexec_crash_loaded=1/);
      // The crash region and the RAM PT_LOADs: all System RAM but the region.
      const region = /^ {2}([0-9a-f]+)-([0-9a-f]+) : Crash kernel$/m.exec(r.iomem)!;
      assert.ok(region, 'the guest reserved a crash region');
      const loads = [...r.kexecDebug.matchAll(/^Elf header: p_type = 1, p_offset = (0x[0-9a-f]+) .*p_filesz = (0x[0-9a-f]+)/gm)].map((m) => [BigInt(m[1]!), BigInt(m[2]!)]);
      const [cs, ce] = [BigInt('0x' + region[1]), BigInt('0x' + region[2])];
      assert.deepEqual(loads.map(([s]) => s), [0x40000000n, ce + 1n]);
      assert.equal(loads[0]![0]! + loads[0]![1]!, cs);
      // The capture kernel: our purgatory, then the command line we gave, /proc/vmcore, the save.
      assert.match(consoleText, /kexec-ts purgatory: verifying segments/);
      assert.ok(consoleText.includes(`e2e: capture kernel ${r.release} cmdline [${CAPTURE_CMDLINE}]`), 'the capture kernel booted with our command line');
      assert.match(consoleText, /e2e: save rc=0 /);
    }

    // Read back on the host.
    const info = JSON.parse(vmcoreTs(['info', '--json', r.dump]).stdout) as { release: string; machine: string; panicMessage: string; dumpLevel?: number };
    assert.equal(info.release, r.release);
    assert.equal(info.machine, 'aarch64');
    assert.equal(info.panicMessage, 'Kernel panic - not syncing: sysrq triggered crash');
    const dmesg = vmcoreTs(['dmesg', r.dump]);
    assert.equal(dmesg.status, 0, dmesg.stderr);
    assert.match(dmesg.stdout, /sysrq: Trigger a crash/);
    assert.match(dmesg.stdout, /Starting crashdump kernel\.\.\./);
    const vmlinux = oracles ? await getDebugVmlinux(suite, r.release, log) : undefined;
    const tmp = mkdtempSync(join(out, 'check-'));
    try {
      if (!oracles) {
        // npm test's cycle: our own reading of the dump (the oracles run with E2E_ARM64=1).
        const bt = JSON.parse(vmcoreTs(['bt', '--json', r.dump]).stdout) as BtJson;
        const names = bt.backtraces[0]!.frames.map((f) => baseName(f.function ?? '?'));
        assert.ok(names.includes('sysrq_handle_crash') && names.includes('write_sysrq_trigger'), `frames: ${names.join(' ')}`);
        assert.equal(bt.backtraces[0]!.stop, 'user mode');
        console.error(`[arm64-kdump] ${suite} via ${via} (no oracles): QEMU ${r.qemuSeconds.toFixed(0)} s, whole test ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        return;
      }
      // makedumpfile 1.7.8 (arm64 build) reads our save of 6.1; it refuses 6.12's 52-bit VA kernel (up to 1.7.9).
      const mdf = await arm64Makedumpfile(log);
      const run = mdf.run(['--dump-dmesg', r.dump, join(tmp, 'dmesg.txt')]);
      if (suite === 'bookworm') {
        assert.equal(run.status, 0, run.stdout + run.stderr);
        assert.equal(callerColumnAsKernel(readFileSync(join(tmp, 'dmesg.txt'), 'latin1')), vmcoreTs(['dmesg', '-c', r.dump]).stdout, `makedumpfile ${mdf.version} --dump-dmesg = vmcore-ts dmesg -c`);
      } else {
        assert.match(run.stdout + run.stderr, /VA Bits 52 not supported/, `makedumpfile ${mdf.version} still lacks 52-bit VA`);
      }
      // drgn 0.3.0 (sid root) on the same file: the log and the panic task's call frames (inlined ones aside).
      const ref = cannotMakeRoot() ? undefined : drgnReference(r.dump, vmlinux!);
      if (ref) assert.equal(dmesg.stdout, ref.dmesg, 'vmcore-ts dmesg = drgn get_dmesg');
      // bt: the task that wrote to /proc/sysrq-trigger, from the registers the crash saved, with and without the vmlinux.
      for (const extra of [[], ['--vmlinux', vmlinux!]]) {
        const bt = JSON.parse(vmcoreTs(['bt', '--json', ...extra, r.dump]).stdout) as BtJson;
        const [trace] = bt.backtraces;
        const names = trace!.frames.map((f) => baseName(f.function ?? '?'));
        assert.ok(names.includes('sysrq_handle_crash') && names.includes('write_sysrq_trigger'), `frames ${extra.length ? 'with' : 'without'} the vmlinux: ${names.join(' ')}`);
        assert.equal(trace!.stop, 'user mode');
        if (ref) {
          assert.equal(trace!.pid, ref.crashedTid, 'the panic task = drgn\'s crashed thread');
          assert.deepEqual(names, drgnCallFrames(ref.frames).map(baseName), 'the frames = drgn\'s');
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    console.error(`[arm64-kdump] ${suite} via ${via}: prepare ${r.prepareSeconds.toFixed(0)} s, QEMU (boot, kexec-ts -p, crash, capture, save) ${r.qemuSeconds.toFixed(0)} s, whole test ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
}

// The reference dump made in the guest (issue 15): Debian's arm64 kexec-tools of the guest's suite
// (bookworm 2.0.25, trixie 2.0.29, with their Xen-linked libraries) loads the capture kernel;
// makedumpfile 1.7.8 (sid) and vmcore-ts save both run on kexec-tools' /proc/vmcore in the same
// capture kernel. Debian's bookworm arm64 kernel has no _text in /proc/kallsyms (no KALLSYMS_ALL),
// which makes kexec-tools write a 16 EiB kernel text PT_LOAD; the guest gives it a /proc/kallsyms
// with _text added from /proc/kcore (harness/arm64-kdump.ts ARM64_KEXEC_TOOLS_INIT). Trixie's 6.12
// is a 52-bit VA kernel, which makedumpfile 1.7.8 refuses (asserted); there drgn 0.3.0 reads our
// in-guest save instead.
// E2E_ARM64_KEXEC_TOOLS_SUITE=sid: another suite's kexec-tools in both guests (sid's 2.0.32: the same lines).
const kexecToolsSuite = process.env.E2E_ARM64_KEXEC_TOOLS_SUITE;
for (const suite of ['bookworm', 'trixie'] as const) {
  const mdfReads = suite === 'bookworm';
  const checks = mdfReads
    ? "makedumpfile 1.7.8 -c -d 31 and vmcore-ts save -c -d 31 in the same capture kernel keep the same pages; vmcore-ts dmesg of both = makedumpfile's --dump-dmesg; bt of the panic task on makedumpfile's dump"
    : "makedumpfile 1.7.8 refuses the 52-bit VA kernel in the capture kernel; vmcore-ts save -c -d 31 there: its dmesg = drgn's, bt of the panic task";
  test(`e2e arm64 kdump ${suite} (cortex-a72) via Debian's kexec-tools: kexec -p -d in the guest = our kexec-ts -p -d --dry-run (ranges, core header, segments); ${checks}`, { skip: skipOf(false), timeout: 40 * 60_000 }, async (t) => {
    const t0 = Date.now();
    const out = join(cacheDir('vmcore'), `arm64-kdump-${suite}-kexec-tools${kexecToolsSuite ? `-${kexecToolsSuite}` : ''}`);
    const r = await arm64KdumpCycle(suite, out, log, undefined, 'kexec-tools', undefined, { kexecTools: kexecToolsSuite ?? suite, makedumpfile: REF_MAKEDUMPFILE_SUITE });
    const ref = r.reference!;
    const consoleText = readFileSync(r.console, 'latin1').replace(/\r/g, '');
    // Both tools ran in the guest: kexec-ts planned (nothing loaded), kexec-tools loaded.
    assert.match(consoleText, /^e2e: kexec-ts -p --dry-run rc=0 /m);
    assert.match(consoleText, /^e2e: kexec -p rc=0 .*kexec_crash_loaded=1$/m);
    // bookworm's 6.1 lists no _text in /proc/kallsyms: kexec-tools got one from kcore's text address; trixie's 6.12 lists it
    const kallsymsFix = /^e2e: kallsyms for kexec-tools: _text ([0-9a-f]{16}) \(from \/proc\/kcore\) added$/m.exec(consoleText);
    if (mdfReads) assert.equal(`0x${kallsymsFix?.[1]}`, /^Kernel text Elf header: .* p_vaddr = (0x[0-9a-f]+) /m.exec(ref.kexecDebug)?.[1], 'kexec-tools\' kernel text = the _text it was given');
    else assert.equal(kallsymsFix, null, `${suite}'s kallsyms has _text`);
    assert.ok(consoleText.includes(`e2e: capture kernel ${r.release} cmdline [${CAPTURE_CMDLINE}]`), 'the capture kernel booted with the command line given to kexec -p');
    assert.match(consoleText, /^e2e: save rc=0 /m);
    assert.ok(ref.libraries.some((l) => /^libxenctrl\.so\.[\d.]+ <- libxenmisc/.test(l)), `kexec's Xen libraries came along: ${ref.libraries.join(', ')}`);

    // Our plan for the same Image, initrd, command line and machine = kexec-tools' load.
    const differences = assertCrashPlanIsKexecTools(r.kexecDebug, ref.kexecDebug, (a, b, what) => assert.deepEqual(a, b, what));
    t.diagnostic(`kexec-ts -p -d vs kexec-tools ${ref.versions.kexecTools} kexec -p -d: the same but ${differences.join('; ')}`);

    const ours = ref.files['vmcore-ts.kdump']!;
    const dumps = [ours];
    if (mdfReads) {
      assert.match(consoleText, /^e2e: makedumpfile --dump-dmesg rc=0 /m);
      assert.match(consoleText, /^e2e: makedumpfile -c -d 31 rc=0 /m);
      // The log: makedumpfile's own --dump-dmesg of /proc/vmcore = vmcore-ts dmesg of its dump = of ours.
      const theirDump = ref.files['makedumpfile.kdump']!;
      dumps.unshift(theirDump);
      const theirLog = callerColumnAsKernel(readFileSync(ref.files['makedumpfile-dmesg.txt']!, 'latin1'));
      assert.match(theirLog, /sysrq: Trigger a crash/);
      for (const dump of dumps) {
        const d = vmcoreTs(['dmesg', '-c', dump]);
        assert.equal(d.status, 0, d.stderr);
        assert.equal(d.stdout, theirLog, `vmcore-ts dmesg -c ${dump} = makedumpfile ${ref.versions.makedumpfile} --dump-dmesg /proc/vmcore`);
      }
      // The same pages: the 2nd bitmaps page by page, and the same zero pages.
      const theirs = keptAndZero(theirDump);
      const mine = keptAndZero(ours);
      assert.equal(mine.kd.maxPfn, theirs.kd.maxPfn, 'max pfn');
      const kept = (b: Uint8Array) => b.reduce((n, x) => n + [...x.toString(2)].filter((c) => c === '1').length, 0);
      assert.ok(Buffer.from(mine.bitmap).equals(Buffer.from(theirs.bitmap)), `the 2nd bitmap of our save = makedumpfile's (ours keeps ${kept(mine.bitmap)} pages, makedumpfile ${kept(theirs.bitmap)})`);
      assert.deepEqual(mine.zero, theirs.zero, 'the same zero pages');
      t.diagnostic(`makedumpfile ${ref.versions.makedumpfile} and vmcore-ts -c -d 31 in the guest: ${kept(mine.bitmap)} pages kept by both, ${mine.zero.length} of them zero; ${statSync(theirDump).size} and ${statSync(ours).size} bytes`);
    } else {
      assert.equal(consoleText.match(/PAGE SIZE 0x1000 and VA Bits 52 not supported/g)?.length, 2, `makedumpfile ${ref.versions.makedumpfile} refuses the 52-bit VA kernel (--dump-dmesg and -d 31)`);
      assert.equal(ref.files['makedumpfile.kdump'], undefined);
      if (!cannotMakeRoot()) {
        const drgn = drgnReference(ours, await getDebugVmlinux(suite, r.release, log));
        assert.equal(vmcoreTs(['dmesg', ours]).stdout, drgn.dmesg, 'vmcore-ts dmesg of our in-guest save = drgn get_dmesg');
      }
    }
    // Each dump read by vmcore-ts: the kernel, the panic, the panic task's stack.
    const bts = dumps.map((f) => {
      const info = JSON.parse(vmcoreTs(['info', '--json', f]).stdout) as { release: string; machine: string; panicMessage: string };
      assert.deepEqual([info.release, info.machine, info.panicMessage], [r.release, 'aarch64', 'Kernel panic - not syncing: sysrq triggered crash']);
      return (JSON.parse(vmcoreTs(['bt', '--json', f]).stdout) as BtJson).backtraces[0]!;
    });
    const names = bts.map((b) => b.frames.map((f) => baseName(f.function ?? '?')));
    assert.ok(names[0]!.includes('sysrq_handle_crash') && names[0]!.includes('write_sysrq_trigger'), `frames: ${names[0]!.join(' ')}`);
    assert.equal(bts[0]!.stop, 'user mode');
    if (bts.length === 2) assert.deepEqual([bts[0]!.pid, names[0]], [bts[1]!.pid, names[1]], 'the same panic task and frames on both dumps');
    console.error(`[arm64-kdump] ${suite} via kexec-tools ${ref.versions.kexecTools} + makedumpfile ${ref.versions.makedumpfile}: prepare ${r.prepareSeconds.toFixed(0)} s, QEMU (boot, kexec-ts --dry-run, kexec -p, crash, capture: makedumpfile, save) ${r.qemuSeconds.toFixed(0)} s, whole test ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
}
