// vmcore-ts info/dmesg/regs/read/sym on the real Debian 6.1 dump, against the oracle outputs of
// makedumpfile and crash stored with it, and against makedumpfile run live when it is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { findCrashingCpu, systemInfo } from '../../src/analyze/system-info.ts';
import { parseSystemMap, SortedSymbolTable } from '../../src/analyze/symbols.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DIR = 'fixtures/x86_64-debian-6.1';
const DUMP = `${DIR}/vmcore-d31-zlib.kdump`;
const ORACLE_DMESG = readFileSync(`${DIR}/oracle/makedumpfile-dump-dmesg.txt`, 'latin1');
const CRASH = readFileSync(`${DIR}/oracle/crash-8.0.2-sys-bt-ps-log.txt`, 'latin1');

function vmcoreTs(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { encoding: 'latin1' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
/** "   RELEASE: 6.1.0-56-cloud-amd64" from crash's sys output. */
function crashSys(label: string): string {
  const m = new RegExp(`^\\s*${label}: (.*)$`, 'm').exec(CRASH);
  assert.ok(m, `crash oracle has ${label}`);
  return m[1]!.trim();
}
/** The register block crash prints for the NMI'd idle CPU 0 (its exception frame = its NT_PRSTATUS). */
function crashRegs(afterLine: RegExp): Record<string, string> {
  const lines = CRASH.split('\n');
  const start = lines.findIndex((l) => afterLine.test(l));
  const regs: Record<string, string> = {};
  for (const l of lines.slice(start + 1, start + 8)) {
    for (const m of l.matchAll(/([A-Z0-9_]+): ([0-9a-f]+)/g)) regs[m[1]!.toLowerCase()] = m[2]!;
  }
  return regs;
}

const kd = () => new KernelDump(openDump(new FileSource(DUMP)));

test('fixture dmesg: vmcore-ts dmesg equals the stored makedumpfile --dump-dmesg output line for line', () => {
  const r = vmcoreTs('dmesg', DUMP);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  assert.deepEqual(r.out.split('\n'), ORACLE_DMESG.split('\n'));
});

test('fixture dmesg: equals makedumpfile --dump-dmesg run now on the same dump', (t) => {
  const which = spawnSync('sh', ['-c', 'command -v makedumpfile']);
  if (which.status !== 0) {
    t.skip('makedumpfile is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-dmesg-'));
  try {
    const out = join(dir, 'dmesg.txt');
    const m = spawnSync('makedumpfile', ['--dump-dmesg', DUMP, out], { encoding: 'latin1' });
    assert.equal(m.status, 0, m.stderr);
    const ours = vmcoreTs('dmesg', DUMP);
    assert.deepEqual(ours.out.split('\n'), readFileSync(out, 'latin1').split('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fixture info: agrees with crash sys (release, version, CPUs, date, uptime, memory, panic) and bt header (PID 1 init on CPU 1)', () => {
  const s = systemInfo(kd());
  assert.equal(s.release, crashSys('RELEASE'));
  assert.equal(s.version, crashSys('VERSION'));
  assert.equal(s.machine, crashSys('MACHINE').split(/\s+/)[0]);
  assert.equal(s.nodename, crashSys('NODENAME'));
  assert.equal(String(s.cpus), crashSys('CPUS'));
  assert.equal(s.panicMessage, JSON.parse(crashSys('PANIC')));
  assert.equal(s.crashingCpu, 1);
  assert.equal(s.pid, 1);
  assert.equal(s.comm, 'init');
  assert.match(CRASH, /PID: 1 +TASK: \w+ +CPU: 1 +COMMAND: "init"/);
  assert.deepEqual(s.problems, []);
  assert.equal(s.dump.format, 'kdump-compressed');
  assert.deepEqual(s.dump.compression, ['zlib']);
  assert.equal(s.dump.dumpLevel, 31);
  assert.equal(s.kernel.pagingLevels, 5);

  // Without the log, the kernel's crashing_cpu variable (through the dump's kallsyms) says the same.
  const bySymbol = findCrashingCpu(kd(), []);
  assert.equal(bySymbol.cpu, 1);
  assert.match(bySymbol.source!, /^crashing_cpu \(kallsyms in the dump\)$/);

  const r = vmcoreTs('info', DUMP);
  assert.equal(r.code, 0, r.err);
  for (const label of ['RELEASE', 'VERSION', 'CPUS', 'DATE', 'UPTIME', 'NODENAME', 'MEMORY', 'PANIC']) {
    assert.match(r.out, new RegExp(`^ *${label}: ${crashSys(label).replace(/[()[\]+.*?]/g, '\\$&').split('  ')[0]}`, 'm'), label);
  }
  assert.match(r.out, /^ *PID: 1$/m);
  assert.match(r.out, /^ *COMMAND: "init"$/m);
  const j = JSON.parse(vmcoreTs('info', '--json', DUMP).out);
  assert.equal(j.release, '6.1.0-56-cloud-amd64');
  assert.equal(j.crashingCpu, 1);
});

test('fixture regs: CPU 0 equals the registers crash shows for its NMI frame; CPU 1 (marked) stopped in __crash_kexec on the panic stack', () => {
  const cpus = kd().cpus;
  assert.equal(cpus.length, 2);
  const want = crashRegs(/\[exception RIP: native_safe_halt\+11\]/);
  for (const [name, v] of Object.entries(want)) {
    const key = name === 'rflags' ? 'eflags' : name;
    assert.equal(cpus[0]!.regs[key as 'rip'], BigInt('0x' + v), name);
  }
  assert.equal(cpus[0]!.pid, 0);
  assert.equal(cpus[1]!.pid, 1);
  // crash's bt of the panic task: frame #0 at ff58d57180013b28, #2 panic at ff58d57180013c40.
  const rsp = cpus[1]!.regs.rsp;
  assert.ok(rsp >= 0xff58d57180013b28n && rsp < 0xff58d57180013c40n, rsp.toString(16));

  const r = vmcoreTs('regs', DUMP);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^CPU: 1  PID: 1  COMMAND: "init"  <- crashing CPU/m);
  assert.match(r.out, /^CPU: 0  PID: 0$/m);
  assert.match(r.out, /\[RIP: __crash_kexec\+0x[0-9a-f]+\]/);
  assert.match(r.out, /RIP: ffffffff84217a0b  RSP: ffffffff85203e98  RFLAGS: 00000246/);
  const json = JSON.parse(vmcoreTs('regs', '--json', DUMP).out) as { schema: number; cpus: { cpu: number; pid: number; crashing: boolean }[] };
  assert.equal(json.schema, 1);
  assert.deepEqual(json.cpus.map((l) => [l.cpu, l.pid, l.crashing]), [[0, 0, false], [1, 1, true]]);
});

test('fixture read: linux_banner through kernel text, and the same bytes via the direct map and -p', () => {
  const k = kd();
  const banner = k.symbols.byName('linux_banner')!;
  const text = k.memory.cstring(banner.address, 512);
  assert.ok(text.startsWith(`Linux version ${k.info.osrelease} `), text);
  assert.ok(text.includes(crashSys('VERSION')));
  const paddr = k.memory.virtToPhys(banner.address);
  // page_offset_base: the variable (kallsyms) and the page-table scan agree.
  const fromVar = k.directMap()!;
  assert.match(fromVar.source, /page_offset_base from kallsyms/);
  assert.deepEqual(k.memory.directMap(), fromVar);
  const scanned = new KernelDump(openDump(new FileSource(DUMP))).memory.directMap()!;
  assert.equal(scanned.source, 'page tables');
  assert.equal(scanned.base, fromVar.base);
  assert.deepEqual(k.memory.readVirt(fromVar.base + paddr, 64), k.memory.readVirt(banner.address, 64));

  const r = vmcoreTs('read', DUMP, 'linux_banner', '32');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${banner.address.toString(16)}:  4c 69 6e 75 78 20 76 65 72 73 69 6f 6e 20 36 2e  Linux version 6.\n${(banner.address + 16n).toString(16)}:  31 2e 30 2d 35 36 2d 63 6c 6f 75 64 2d 61 6d 64  1.0-56-cloud-amd\n`);
  const p = vmcoreTs('read', '-p', DUMP, paddr.toString(16), '32');
  assert.equal(p.code, 0, p.err);
  assert.equal(p.out.replace(/^\w+:/gm, ''), r.out.replace(/^\w+:/gm, ''));
  // A page filtered out of the dump (dump level 31 drops free and user pages): one line, exit 1.
  const k2 = kd();
  let missing = 0n;
  for (let pfn = 0x1000n; pfn < k2.dump.maxPfn; pfn++) {
    if (!k2.dump.hasPage(pfn)) {
      missing = pfn * 4096n;
      break;
    }
  }
  const e = vmcoreTs('read', '-p', DUMP, missing.toString(16), '16');
  assert.equal(e.code, 1);
  assert.equal(e.out, '');
  assert.match(e.err, /^vmcore-ts: physical address 0x[0-9a-f]+: (not in|excluded from) the dump.*\n$/);
});

test('fixture sym: kallsyms from the dump by name and address; --system-map takes over', () => {
  // crash: "#3 [ff58d57180013cc0] sysrq_handle_crash at ffffffff83ea8a06"; the log: sysrq_handle_crash+0x16/0x20.
  const r = vmcoreTs('sym', DUMP, 'ffffffff83ea8a06', 'sysrq_handle_crash', '0xffffffff84217a0b');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.out.trim().split('\n'), [
    'ffffffff83ea8a06: sysrq_handle_crash+0x16  (ffffffff83ea89f0 t sysrq_handle_crash)',
    'ffffffff83ea89f0 t sysrq_handle_crash',
    'ffffffff84217a0b: native_safe_halt+0xb  (ffffffff84217a00 t native_safe_halt)',
  ]);
  const miss = vmcoreTs('sym', DUMP, 'no_such_symbol');
  assert.equal(miss.code, 1);
  assert.match(miss.err, /no symbol named 'no_such_symbol'/);
  // A System.map holds link-time addresses: KERNELOFFSET (0x2800000) is added.
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-sym-'));
  try {
    const map = join(dir, 'System.map');
    writeFileSync(map, 'ffffffff81000000 T _text\nffffffff816a89f0 T sysrq_handle_crash\n0000000000000000 A fixed_percpu_data\n');
    const s = vmcoreTs('sym', '--system-map', map, '--json', DUMP, 'sysrq_handle_crash');
    assert.equal(s.code, 0, s.err);
    assert.deepEqual(JSON.parse(s.out), { schema: 1, query: 'sysrq_handle_crash', symbol: 'sysrq_handle_crash', address: '0xffffffff83ea89f0', type: 'T' });
    assert.equal(parseSystemMap(readFileSync(map, 'latin1'), map, 0x2800000n).byName('_text')!.address, 0xffffffff83800000n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fixture kallsyms: every symbol the kernel log names in the panic trace resolves to the same function+offset', () => {
  const syms = kd().symbols;
  assert.ok(syms.count > 50_000, `${syms.count} symbols`);
  // crash bt: "#2 [..] panic at ffffffff841cd06e", "#9 [..] do_syscall_64 at ffffffff84203f4d", ...
  for (const m of CRASH.matchAll(/#\d+ \[[0-9a-f]+\] ([\w.]+) at ([0-9a-f]{16})/g)) {
    const hit = syms.byAddress(BigInt('0x' + m[2]))!;
    assert.ok(hit, m[0]);
    assert.equal(hit.symbol.name, m[1], m[0]);
  }
});

test('fixture kallsyms: the dump\'s compact table answers every name and address as a sorted table of the same symbols does', () => {
  const syms = kd().symbols;
  const all = syms.all();
  const sorted = new SortedSymbolTable('the same symbols', [...all]);
  assert.equal(sorted.count, syms.count);
  // Names given many times (locals in many files, a local and a global of one name) included.
  const names = new Set(all.map((s) => s.name));
  assert.ok(all.length - names.size > 1000, `${all.length - names.size} repeated names`);
  for (const name of names) assert.equal(syms.byName(name), sorted.byName(name), name);
  for (const name of ['no_such_symbol', '', 'panic\u0100', 'sysrq_handle_cras']) assert.equal(syms.byName(name), undefined, name);
  for (let i = 0; i < all.length; i += 3) {
    for (const a of [all[i]!.address, all[i]!.address + 1n, all[i]!.address + 0x100001n]) assert.deepEqual(syms.byAddress(a), sorted.byAddress(a), a.toString(16));
  }
});

test('vmcore-ts CLI: usage errors exit 2, a file that is not a dump exits 1 with one line', () => {
  const u = vmcoreTs('dmesg');
  assert.equal(u.code, 2);
  assert.match(u.err, /missing arguments/);
  assert.equal(vmcoreTs('dmesg', '--bogus', DUMP).code, 2);
  assert.equal(vmcoreTs('read', DUMP, 'zzzz-not-hex!', '16').code, 1); // not a symbol either
  assert.equal(vmcoreTs('read', DUMP, '0xffffffff81000000', 'lots').code, 2);
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-bad-'));
  try {
    const junk = join(dir, 'junk');
    writeFileSync(junk, Buffer.alloc(8192, 0x5a));
    for (const cmd of ['info', 'dmesg', 'regs']) {
      const r = vmcoreTs(cmd, junk);
      assert.equal(r.code, 1, cmd);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.doesNotMatch(r.err, /\n\s+at /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vmcore-ts CLI: a VMCOREINFO without the keys a command needs gives one line naming the key; info still reports the rest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-keys-'));
  try {
    // Same-length renames inside the (uncompressed) VMCOREINFO of a copy of the real dump.
    const bytes = Buffer.from(readFileSync(DUMP));
    const rename = (from: string, to: string) => {
      assert.equal(from.length, to.length);
      for (let at = bytes.indexOf(from); at >= 0; at = bytes.indexOf(from, at + 1)) bytes.write(to, at, 'latin1');
    };
    rename('SYMBOL(prb)=', 'SYMBOL(xxx)=');
    rename('SYMBOL(init_top_pgt)=', 'SYMBOL(init_xxx_pgt)=');
    rename('SYMBOL(swapper_pg_dir)=', 'SYMBOL(swapper_xx_dir)=');
    const broken = join(dir, 'broken.kdump');
    writeFileSync(broken, bytes);
    const d = vmcoreTs('dmesg', broken);
    assert.equal(d.code, 1);
    assert.match(d.err, /^vmcore-ts: VMCOREINFO has no SYMBOL\(prb\) or SYMBOL\(log_buf\), needed for the kernel log .*may help\n$/);
    const r = vmcoreTs('read', broken, 'ffffffff81000000');
    assert.equal(r.code, 1);
    assert.match(r.err, /^vmcore-ts: VMCOREINFO has no SYMBOL\(init_top_pgt\) \(or swapper_pg_dir\), needed for kernel page-table walks/);
    const i = vmcoreTs('info', broken);
    assert.equal(i.code, 3, i.err); // partial: printed, but without the log's facts
    assert.match(i.err, /^vmcore-ts: partial result: .*1 kernel log unreadable.* \(first: utsname: VMCOREINFO has no SYMBOL\(init_top_pgt\)/m);
    assert.match(i.out, /RELEASE: 6\.1\.0-56-cloud-amd64/);
    assert.match(i.out, /UNREADABLE: kernel log: VMCOREINFO has no SYMBOL\(prb\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fixture as an ELF core (vmcore-ts convert -E): dmesg, info and regs say the same as on the kdump-compressed file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-elf-'));
  try {
    const elf = join(dir, 'vmcore.elf');
    const c = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'convert', '-E', DUMP, elf], { encoding: 'latin1' });
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(vmcoreTs('dmesg', elf).out.split('\n'), ORACLE_DMESG.split('\n'));
    const strip = (out: string) => out.split('\n').filter((l) => !/^ *(DUMPFILE|FORMAT|COMPRESSION|DUMP LEVEL|PAGES):/.test(l)).join('\n');
    const info = vmcoreTs('info', elf);
    assert.equal(info.code, 0, info.err);
    assert.match(info.out, /FORMAT: ELF64 core/);
    assert.equal(strip(info.out), strip(vmcoreTs('info', DUMP).out));
    assert.equal(vmcoreTs('regs', elf).out, vmcoreTs('regs', DUMP).out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Dumps the real-kernel harness left in e2e/out (when it ran on this machine): each has
// makedumpfile's dmesg of it beside. They add other kernels, 4-level paging, negative phys_base.
const harnessDumps = existsSync('e2e/out')
  ? readdirSync('e2e/out', { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        readdirSync(join('e2e/out', d.name))
          .filter((f) => /^makedumpfile-dmesg(-\w+)?\.txt$/.test(f))
          .map((f) => ({ oracle: join('e2e/out', d.name, f), dump: join('e2e/out', d.name, `vmcore${/^makedumpfile-dmesg(-\w+)?\.txt$/.exec(f)![1] ?? ''}.kdump`) }))
          // Settled ones only: the harness may be writing a dump right now (another test run).
          .filter((x) => existsSync(x.dump) && Date.now() - statSync(x.dump).mtimeMs > 120_000 && statSync(x.oracle).mtimeMs >= statSync(x.dump).mtimeMs),
      )
  : [];

test('harness dumps: dmesg equals makedumpfile; the direct map from the page tables equals page_offset_base', (t) => {
  if (harnessDumps.length === 0) {
    t.skip('no harness dumps in e2e/out (run the e2e scenarios first)');
    return;
  }
  for (const h of harnessDumps) {
    if (!existsSync(h.dump)) continue; // removed by a harness run meanwhile
    const r = vmcoreTs('dmesg', h.dump);
    assert.equal(r.code, 0, `${h.dump}: ${r.err}`);
    assert.deepEqual(r.out.split('\n'), readFileSync(h.oracle, 'latin1').split('\n'), h.dump);
    const k = new KernelDump(openDump(new FileSource(h.dump)));
    const s = systemInfo(k);
    assert.deepEqual(s.problems, [], h.dump);
    assert.equal(s.release, k.info.osrelease, h.dump);
    assert.equal(s.pid, k.cpus[s.crashingCpu!]!.pid, h.dump);
    assert.ok(s.comm, h.dump);
    if (k.symbolsIfAny()) {
      // Linux 6.0+: kallsyms in VMCOREINFO.
      const scanned = k.memory.directMap();
      assert.equal(k.directMap()?.base, scanned?.base, h.dump);
      assert.ok(k.memory.cstring(k.symbols.byName('linux_banner')!.address).startsWith(`Linux version ${k.info.osrelease} `));
    } else {
      // Before 6.0 VMCOREINFO has no kallsyms: sym finds the tables in the kernel image.
      const r = vmcoreTs('sym', h.dump, 'panic');
      assert.equal(r.code, 0, `${h.dump}: ${r.err}`);
      assert.match(r.out, /^ffffffff[0-9a-f]{8} [Tt] panic\n$/);
    }
  }
});
