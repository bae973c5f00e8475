// Our arm64 crash load against Debian's arm64 kexec-tools on the same machine, offline: the facts
// that the e2e kexec-tools cycle recorded in its guest (fixtures/arm64/kexec-tools-p-SUITE.txt, made
// by fixtures/arm64/record-kexec-tools.ts: /proc/iomem, crash_notes, vmcoreinfo, kallsyms, the
// program headers of /proc/kcore, the DTB, the Image's header and size, the initrd's size) replayed
// through `kexec-ts -p -d --dry-run --root`, compared line by line with the `kexec -p -d` that
// kexec-tools printed there (bookworm 6.1 with 2.0.25, trixie 6.12 with 2.0.29; KASLR with a
// randomized linear map, crashkernel=768M): crash region and dump ranges, every program header of
// the core header (CPU notes, VMCOREINFO, kernel text, RAM at its linear-map address), Image
// placement, initrd, flags and segment addresses; and with our own dry run in that guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import { dryRunText } from '../../src/kexec/load.ts';
import { arm64PurgatoryObject, assertCrashPlanIsKexecTools, crashPlanLines } from '../arm64-fixture.ts';

const CAPTURE_CMDLINE = 'console=ttyAMA0 reset_devices nr_cpus=1 panic=-1 kexec-ts=capture';

/** Sections ("=== TITLE" lines) of a recorded kexec-tools-p-SUITE.txt. */
function recorded(suite: string) {
  const url = new URL(`../../fixtures/arm64/kexec-tools-p-${suite}.txt`, import.meta.url);
  const text = readFileSync(url, 'utf8');
  const lines = text.split('\n');
  const section = (title: string) => {
    const at = lines.indexOf(`=== ${title}`);
    if (at < 0) throw new Error(`${url.pathname}: no section "${title}"`);
    const end = lines.findIndex((l, i) => i > at && l.startsWith('=== '));
    return lines.slice(at + 1, end).join('\n');
  };
  const unpack = (title: string) => new Uint8Array(gunzipSync(Buffer.from(section(title).replace(/\s+/g, ''), 'base64')));
  const facts = section('facts');
  const sizes = /^# Image: (\d+) bytes .*; initrd: (\d+) bytes$/m.exec(text)!;
  return {
    kexecTools: /^# kexec-tools (\S+)/m.exec(text)![1]!,
    iomem: section('/proc/iomem') + '\n',
    cpus: [...facts.matchAll(/^(\/sys\/devices\/system\/cpu\/cpu\d+) crash_notes (\S+) (\S+)$/gm)].map((m) => ({ dir: m[1]!, notes: `${m[2]}\n`, size: `${m[3]}\n` })),
    vmcoreinfo: /^\/sys\/kernel\/vmcoreinfo (.*)$/m.exec(facts)![1]! + '\n',
    kallsyms: facts.split('\n').filter((l) => / [A-Za-z] \S+$/.test(l) && !l.startsWith('/')).join('\n') + '\n',
    kcoreHead: unpack('/proc/kcore head (gzip, base64)'),
    fdt: unpack('/sys/firmware/fdt (gzip, base64)'),
    imageHead: new Uint8Array(readFileSync(new URL(`../../fixtures/arm64/kexec-tools-p-${suite}.Image-head.bin`, import.meta.url))),
    imageSize: Number(sizes[1]),
    initrdSize: Number(sizes[2]),
    kexecP: section('kexec -p -d'),
    ours: section('kexec-ts -p -d --dry-run'),
  };
}

const purgatory = arm64PurgatoryObject();

for (const suite of ['bookworm', 'trixie']) {
  const fx = recorded(suite);
  test(`kexec-ts -p -d --dry-run --root (the ${suite} arm64 guest's recorded facts) = Debian's kexec-tools ${fx.kexecTools} kexec -p -d there: crash and dump ranges, the core header's notes, kernel text and linear-map RAM headers, Image, initrd, flags and segment addresses; = our dry run in that guest`, { skip: !purgatory && 'no arm64 purgatory (build or llvm-mc)' }, async (t) => {
    const root = mkdtempSync(join(tmpdir(), `arm64-kexec-tools-${suite}-`));
    try {
      const put = (p: string, data: string | Uint8Array) => {
        mkdirSync(dirname(join(root, p)), { recursive: true });
        writeFileSync(join(root, p), data);
      };
      put('proc/iomem', fx.iomem);
      put('sys/kernel/vmcoreinfo', fx.vmcoreinfo);
      for (const c of fx.cpus) {
        put(`${c.dir.slice(1)}/crash_notes`, c.notes);
        put(`${c.dir.slice(1)}/crash_notes_size`, c.size);
      }
      put('proc/kallsyms', fx.kallsyms);
      put('proc/kcore', fx.kcoreHead); // its ELF and program headers: all the crash facts read of it
      put('kexec/virt.dtb', fx.fdt);
      put('kexec/Image', fx.imageHead);
      truncateSync(join(root, 'kexec/Image'), fx.imageSize);
      put('kexec/capture.img', '');
      truncateSync(join(root, 'kexec/capture.img'), fx.initrdSize);
      const p = await planKernelLoad({ kernel: join(root, 'kexec/Image'), initrd: join(root, 'kexec/capture.img'), dtb: join(root, 'kexec/virt.dtb'), kind: 'crash', syscall: 'load', cmdline: CAPTURE_CMDLINE, dryRun: true, machine: { root } });
      assert.equal(p.plan.arch, 'arm64');
      const text = await dryRunText(p, { debug: true });
      const differences = assertCrashPlanIsKexecTools(text, fx.kexecP, (a, b, what) => assert.deepEqual(a, b, what));
      assert.equal(differences.length, 3);
      t.diagnostic(`the same but ${differences.join('; ')}`);
      // the replay = what kexec-ts printed in the guest itself
      const [replayed, inGuest] = [crashPlanLines(text), crashPlanLines(fx.ours)];
      assert.deepEqual({ ...replayed, entry: undefined }, { ...inGuest, entry: undefined });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}
