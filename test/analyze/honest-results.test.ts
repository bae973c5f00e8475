// vmcore-ts never answers wrong or incomplete without saying so: symbol files of another build are
// refused (or forced with a warning), incomplete results are flagged (exit 3, one stderr line, --json
// fields) apart from what the dump level excluded by design, and read errors name file and offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPLETE, describeCompleteness, Gaps } from '../../src/analyze/completeness.ts';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { taskTable } from '../../src/analyze/stacks.ts';
import { formatSystemInfo, systemInfo } from '../../src/analyze/system-info.ts';
import { readKallsyms } from '../../src/analyze/kallsyms.ts';
import { checkSymbolTable } from '../../src/analyze/symbol-match.ts';
import { parseSystemMap } from '../../src/analyze/symbols.ts';
import { NotInDumpError, ReadError } from '../../src/errors.ts';
import type { Dump } from '../../src/format/dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { systemMapFromKallsyms } from '../format-helpers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const VMLINUX = join(process.env.HOME ?? '/root', '.cache/kexec-ts/dbg/6.1.0-56-cloud-amd64/vmlinux');
const kd = () => new KernelDump(openDump(new FileSource(DUMP)));

function vmcoreTs(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function withDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-honest-'));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `base` with the pages `pfns` missing for `reason` (the reason's name is the message). */
function withMissingPages(base: Dump, pfns: Set<bigint>, reason: 'lost' | 'excluded'): Dump {
  return new Proxy(base, {
    get(t, key) {
      if (key === 'readPhys')
        return (a: bigint, n: number) => {
          if (pfns.has(a >> 12n)) throw new NotInDumpError(a, true, reason, reason);
          return t.readPhys(a, n);
        };
      const v = Reflect.get(t, key, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

// ---- item 1: symbol files of another build ----

test('System.map of this build: accepted; of another build (symbols moved): refused with "do not match", --force goes on with a warning', () => {
  withDir((dir) => {
    const good = join(dir, 'System.map-good');
    const bad = join(dir, 'System.map-other');
    writeFileSync(good, systemMapFromKallsyms(kd()));
    writeFileSync(bad, systemMapFromKallsyms(kd(), 0x1000n));
    const ok = vmcoreTs('sym', '--system-map', good, DUMP, 'panic');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.err, '');
    assert.match(ok.out, /^ffffffff841ccf31 T panic\n$/);

    const refused = vmcoreTs('sym', '--system-map', bad, DUMP, 'panic');
    assert.equal(refused.code, 1);
    assert.equal(refused.out, '');
    assert.equal(refused.err.trim().split('\n').length, 1, refused.err);
    assert.match(refused.err, /^vmcore-ts: System\.map .*System\.map-other and vmcore .* do not match: .*_stext is 0xffffffff83801000 in the file, 0xffffffff83800000 .*--force/);
    assert.match(refused.err, /6\.1\.0-56-cloud-amd64, build ID 3b43fad5/);

    const forced = vmcoreTs('sym', '--force', '--system-map', bad, DUMP, 'panic');
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.out, /^ffffffff841cdf31 T panic\n$/); // the other build's (wrong) address…
    assert.match(forced.err, /^vmcore-ts: warning: System\.map .* do not match: .*--force: symbols from it may be wrong/m); // …said so
    const json = vmcoreTs('sym', '--json', '--force', '--system-map', bad, DUMP, 'panic').out.trim().split('\n');
    assert.equal(json.length, 2);
    assert.match(JSON.parse(json[1]!).warnings[0], /do not match/);
  });
});

test("Debian's placeholder /boot/System.map is recognised and explained", () => {
  withDir((dir) => {
    const placeholder = join(dir, 'System.map-6.1.0-56-cloud-amd64');
    // The one line Debian's linux-image packages install (the real map is in the -dbg package).
    writeFileSync(placeholder, 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n');
    const r = vmcoreTs('bt', '--system-map', placeholder, DUMP);
    assert.equal(r.code, 1);
    assert.match(r.err, /^vmcore-ts: .*System\.map-6\.1\.0-56-cloud-amd64: this is Debian's placeholder, not a symbol table: .* — install linux-image-RELEASE-dbg .* --vmlinux \/usr\/lib\/debug\/boot\/vmlinux-RELEASE\n$/);
  });
});

test('checkSymbolTable: the dump\'s own symbols match; moved ones differ from VMCOREINFO and kallsyms; a banner elsewhere is caught', () => {
  const k = kd();
  const off = k.info.kernelOffset!;
  assert.deepEqual(checkSymbolTable(k, parseSystemMap(systemMapFromKallsyms(kd()), 'same', off)).mismatches, []);
  const moved = checkSymbolTable(k, parseSystemMap(systemMapFromKallsyms(kd(), 0x40n), 'moved', off));
  assert.match(moved.mismatches.join('\n'), /VMCOREINFO symbols differ/);
  assert.match(moved.mismatches.join('\n'), /differ from the dump's kallsyms/);
  // A vmlinux whose banner or build ID is another build's.
  const same = parseSystemMap(systemMapFromKallsyms(kd()), 'same', off);
  const banner = k.memory.cstring(same.byName('linux_banner')!.address, 512);
  assert.deepEqual(checkSymbolTable(k, same, { buildId: k.info.buildId, banner }).mismatches, []);
  const other = checkSymbolTable(k, same, { buildId: '00'.repeat(20), banner: banner.replace('#1 SMP', '#2 SMP') });
  assert.match(other.mismatches[0]!, /^build ID 0000.* is not the dump's 3b43fad5/);
  assert.match(other.mismatches[1]!, /^linux_banner differs/);
});

const objcopy = spawnSync('sh', ['-c', 'command -v objcopy']).status === 0;
const skipVmlinux = !existsSync(VMLINUX) ? `the fixture's vmlinux is not in ${VMLINUX} (npm test fetches it)` : !objcopy ? 'objcopy (binutils) is not installed' : false;

test('--vmlinux: the fixture\'s real vmlinux matches; a copy of another build (addresses moved, or banner changed) is refused; --force warns in --json', { skip: skipVmlinux }, () => {
  withDir((dir) => {
    const ok = vmcoreTs('bt', '--vmlinux', VMLINUX, DUMP);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.err, '');
    assert.match(ok.out, /#0 \[\w+\] __crash_kexec\+0x11a at/);
    // Another build: the same kernel linked 2 MiB higher (what a rebuild with other code looks like to symbols).
    const small = join(dir, 'vmlinux-nodebug');
    const moved = join(dir, 'vmlinux-moved');
    assert.equal(spawnSync('objcopy', ['--strip-debug', VMLINUX, small]).status, 0);
    assert.equal(spawnSync('objcopy', ['--change-addresses', '0x200000', small, moved]).status, 0);
    const r = vmcoreTs('bt', '--vmlinux', moved, DUMP);
    assert.equal(r.code, 1);
    assert.equal(r.out, ''); // no wrong frames
    assert.match(r.err, /^vmcore-ts: vmlinux .*vmlinux-moved and vmcore .* do not match: the dump has no kernel banner at linux_banner .*VMCOREINFO symbols differ/);
    // Same addresses, another banner (a different build string).
    const bytes = readFileSync(small);
    const at = bytes.indexOf('Linux version 6.1.0-56-cloud-amd64 (');
    assert.ok(at > 0);
    const hash = bytes.indexOf('#1 SMP', at);
    bytes.write('#7', hash, 'latin1');
    const rebanner = join(dir, 'vmlinux-banner');
    writeFileSync(rebanner, bytes);
    const b = vmcoreTs('bt', '--vmlinux', rebanner, DUMP);
    assert.equal(b.code, 1);
    assert.match(b.err, /linux_banner differs: the file has ".*#7 SMP.*", the dump ".*#1 SMP/);
    const f = vmcoreTs('bt', '--json', '--force', '--vmlinux', rebanner, DUMP);
    assert.equal(f.code, 0, f.err);
    assert.match(f.err, /^vmcore-ts: warning: vmlinux .* do not match/m);
    const j = JSON.parse(f.out);
    assert.equal(j.backtraces[0].frames[0].function, '__crash_kexec');
    assert.match(j.warnings[0], /linux_banner differs/);
  });
});

// ---- item 2: partial results ----

test('dmesg on a truncated dump: the records before the cut, one "partial result" line, exit 3, --json says partial; cut before every record: exit 1', () => {
  withDir((dir) => {
    const bytes = readFileSync(DUMP);
    const cut = join(dir, 'cut.kdump');
    writeFileSync(cut, bytes.subarray(0, 14_772_000)); // inside the printk text ring's pages
    const r = vmcoreTs('dmesg', cut);
    assert.equal(r.code, 3, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.ok(lines.length > 50 && lines.length < 406, `${lines.length} lines`);
    const partial = r.err.split('\n').filter((l) => l.includes('partial result'));
    assert.equal(partial.length, 1, r.err);
    assert.match(partial[0]!, /^vmcore-ts: partial result: \d+ printk records lost \(first: printk record id \d+: .*truncated at 14772000 bytes/);
    const j = vmcoreTs('dmesg', '--json', cut).out.trimEnd().split('\n');
    const status = JSON.parse(j.at(-1)!);
    assert.equal(status.partial, true);
    assert.equal(status.missing[0].item, 'printk record');
    assert.equal(status.missing[0].reason, 'lost');
    assert.ok(status.missing[0].count > 100);

    writeFileSync(cut, bytes.subarray(0, 14_700_000)); // before the first record's text
    const none = vmcoreTs('dmesg', cut);
    assert.equal(none.code, 1);
    assert.equal(none.out, '');
    assert.match(none.err, /^vmcore-ts: .*cut\.kdump: no record of the kernel log could be read: printk record id \d+: .*truncated/m);
  });
});

test('ps with unreadable tasks: exit 3 and one summary line, not a line per task; the same tasks excluded by the dump level: a note, exit 0', () => {
  // Library: a dump whose pages holding some task_structs are lost vs excluded.
  const base = openDump(new FileSource(DUMP));
  const ctx0 = new KernelDump(base);
  const all = taskTable(ctx0);
  const victims = all.tasks.filter((t) => !t.idle && t.pid === t.tgid).slice(20, 21); // one: the list is recovered around it
  const pfns = new Set(victims.map((t) => ctx0.memory.virtToPhys(t.task) >> 12n));
  const without = (reason: 'lost' | 'excluded') => withMissingPages(base, pfns, reason);
  const lost = taskTable(new KernelDump(without('lost')));
  assert.equal(lost.completeness.partial, true);
  const lostTasks = lost.completeness.missing.filter((g) => g.item === 'task' || g.item === 'task list').reduce((n, g) => n + g.count, 0);
  assert.equal(lostTasks, 1, JSON.stringify(lost.completeness));
  assert.equal(lost.tasks.length, all.tasks.length - 1);
  assert.equal(describeCompleteness(lost.completeness).length, 1);
  assert.match(describeCompleteness(lost.completeness)[0]!, /^partial result: \d+ tasks? lost, \d+ thread lists? lost \(first: task 0x/);
  const excl = taskTable(new KernelDump(without('excluded')));
  assert.equal(excl.completeness.partial, false);
  assert.equal(excl.completeness.dumpLevel, 31);
  const note = describeCompleteness(excl.completeness);
  assert.equal(note.length, 1);
  assert.match(note[0]!, /^note: .*excluded by dump level 31 \(makedumpfile -d 31 leaves out zero pages, cache pages, private cache pages, user pages, free pages\); not damage/);
  assert.deepEqual(describeCompleteness(COMPLETE), []);
});

test('ps through the CLI: a dump cut inside the task pages exits 3 with one summary line and --json partial/missing; the whole dump exits 0 with partial false', () => {
  withDir((dir) => {
    const cut = join(dir, 'cut.kdump');
    writeFileSync(cut, readFileSync(DUMP).subarray(0, 14_772_000));
    const r = vmcoreTs('ps', cut);
    assert.equal(r.code, 3, r.err);
    assert.doesNotMatch(r.out, /DAMAGED/);
    assert.equal(r.err.split('\n').filter((l) => /partial result/.test(l)).length, 1);
    const j = JSON.parse(vmcoreTs('ps', '--json', cut).out);
    assert.equal(j.partial, true);
    assert.ok(j.missing.some((g: { item: string }) => g.item === 'task'));
    const whole = JSON.parse(vmcoreTs('ps', '--json', DUMP).out);
    assert.equal(whole.partial, false);
    assert.equal(whole.missing, undefined);
  });
});

test('Gaps: counts by item and reason, excluded apart from missing', () => {
  const g = new Gaps(31);
  g.add('task', new NotInDumpError(0x1000n, false, 'excluded', 'excluded'), 'task 0x1');
  g.add('task', new NotInDumpError(0x2000n, false, 'excluded', 'excluded'), 'task 0x2');
  g.add('task', new NotInDumpError(0x3000n, false, 'lost', 'lost: truncated'), 'task 0x3');
  const c = g.result();
  assert.deepEqual(c.excluded.map((x) => [x.item, x.count]), [['task', 2]]);
  assert.deepEqual(c.missing.map((x) => [x.item, x.count, x.reason]), [['task', 1, 'lost']]);
  assert.equal(c.partial, true);
  assert.match(c.excluded[0]!.examples[0]!, /^task 0x1: /);
});

// ---- item 3: read errors ----

test('a read error names the file, the offset and the length (EIO from /proc/self/mem at an unmapped address)', () => {
  const src = new FileSource('/proc/self/mem', 1 << 20);
  assert.throws(() => src.read(0, 16), (e: unknown) => e instanceof ReadError && e.code === 'EIO' && e.offset === 0 && /^\/proc\/self\/mem: cannot read 16 bytes at offset 0 \(0x0\): EIO/.test(e.message));
  const r = vmcoreTs('info', tmpdir());
  assert.equal(r.code, 1);
  assert.match(r.err, /^vmcore-ts: .*: cannot read \d+ bytes at offset 0 \(0x0\): EISDIR/);
});

test('info text: what the dump level excluded is listed as EXCLUDED, what was lost as UNREADABLE; only the lost makes it partial', () => {
  const base = openDump(new FileSource(DUMP));
  const k = new KernelDump(base);
  const uts = k.memory.virtToPhys(k.info.symbol('init_uts_ns')!) >> 12n;
  const missing = (reason: 'lost' | 'excluded') => withMissingPages(base, new Set([uts]), reason);
  const excluded = systemInfo(new KernelDump(missing('excluded')));
  assert.equal(excluded.completeness.partial, false);
  assert.match(formatSystemInfo(excluded), /^ +EXCLUDED: utsname: virtual address 0x[0-9a-f]+: not in dump \(physical 0x[0-9a-f]+: excluded\)$/m);
  assert.doesNotMatch(formatSystemInfo(excluded), /UNREADABLE/);
  const lost = systemInfo(new KernelDump(missing('lost')));
  assert.equal(lost.completeness.partial, true);
  assert.match(formatSystemInfo(lost), /^ +UNREADABLE: utsname: virtual address 0x[0-9a-f]+: not in dump \(physical 0x[0-9a-f]+: lost\)$/m);
});

// ---- escapes the command fuzzer found (test/cli-fuzz-lib.ts), each fixed ----

test('fuzz seed 200054 (ps on ELF): a kallsyms token index of 0xff bytes is one clear error in milliseconds, not 1 GiB of expanded names', () => {
  const k = kd();
  const at = k.info.symbol('kallsyms_token_index')!;
  const damaged = {
    readVirt(a: bigint, n: number): Uint8Array {
      const b = k.memory.readVirt(a, n).slice();
      for (let i = 0; i < n; i++) if (a + BigInt(i) >= at && a + BigInt(i) < at + 442n) b[i] = 0xff;
      return b;
    },
  };
  const t0 = Date.now();
  assert.throws(() => readKallsyms(damaged, k.info), /kallsyms name \d+ of \d+ expands to more than 512 bytes/);
  assert.ok(Date.now() - t0 < 5000);
});
