// vmcore-ts save / convert on the real Debian 6.1 dump (and, when the e2e harness has cached one, an
// unfiltered ELF vmcore of a real guest): outputs open in makedumpfile (same --dump-dmesg) and in
// vmcore-ts with every page equal to the input's; the pages kept per dump level equal makedumpfile's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KdumpCompressedDump } from '../../src/format/kdump-compressed.ts';
import { openDump } from '../../src/format/open-dump.ts';
import type { Dump } from '../../src/format/dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const ORACLE_DMESG = readFileSync(join(REPO, 'fixtures/x86_64-debian-6.1/oracle/makedumpfile-dump-dmesg.txt'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'vmcore-save-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;
const noMakedumpfile = haveMakedumpfile ? false : 'makedumpfile is not installed (scripts/install-test-deps.sh)';

function vmcoreTs(args: string[], opts: { input?: Buffer } = {}) {
  return spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], {
    cwd: REPO,
    input: opts.input,
    maxBuffer: 1 << 30,
  });
}
function ok(r: ReturnType<typeof vmcoreTs>, what: string): void {
  assert.equal(r.status, 0, `${what} exited ${r.status}: ${r.stderr}`);
}
function makedumpfile(...args: string[]) {
  return spawnSync('makedumpfile', args, { encoding: 'utf8' });
}
function mdfDmesg(path: string): string {
  const out = join(dir, `dmesg-${Math.random().toString(36).slice(2)}.txt`);
  const r = makedumpfile('--dump-dmesg', path, out);
  assert.equal(r.status, 0, `makedumpfile --dump-dmesg ${path}: ${r.stdout}${r.stderr}`);
  return readFileSync(out, 'utf8');
}
function open(path: string): Dump {
  return openDump(new FileSource(path));
}
/** Every page `out` holds equals the input's page; returns how many were compared. */
function samePages(input: Dump, out: Dump, max = Infinity): number {
  let n = 0;
  for (const r of out.presentRuns()) {
    for (let p = r.startPfn; p < r.endPfn && n < max; p++, n++) {
      const a = out.readPhys(p * 4096n, 4096);
      const b = input.readPhys(p * 4096n, 4096);
      assert.ok(Buffer.compare(a, b) === 0, `page 0x${p.toString(16)} differs`);
    }
  }
  return n;
}
/** The 2nd bitmap of a kdump-compressed file, `maxPfn` bits. */
function dumpBitmap(path: string): Buffer {
  const d = new KdumpCompressedDump(new FileSource(path));
  return Buffer.from(d.source.read(d.bitmap2Offset, Math.ceil(Number(d.maxPfn) / 8)));
}

test('save -c -d 31: makedumpfile reads it (same --dump-dmesg as the input), vmcore-ts reads every page back', { skip: noMakedumpfile }, () => {
  const out = join(dir, 'zlib.kdump');
  ok(vmcoreTs(['save', '-c', '-d', '31', '--message-level', '0', FIXTURE, out]), 'save');
  assert.equal(statSync(out).mode & 0o777, 0o600, 'the dump file is created 0600');
  assert.equal(mdfDmesg(out), ORACLE_DMESG);
  const d = open(out);
  assert.equal(d.incomplete, false);
  assert.equal(d.dumpLevel, 31);
  assert.deepEqual(d.compression, ['zlib']);
  assert.ok(samePages(open(FIXTURE), d) > 19000);
});

test('save -l, -p, -z and uncompressed: every page reads back equal; makedumpfile reads the LZO one', () => {
  const input = open(FIXTURE);
  for (const [flag, codec] of [['-l', 'lzo'], ['-p', 'snappy'], ['-z', 'zstd'], [undefined, undefined]] as const) {
    const out = join(dir, `codec-${codec ?? 'none'}.kdump`);
    ok(vmcoreTs(['save', ...(flag ? [flag] : []), '-d', '1', '--message-level', '0', FIXTURE, out]), `save ${flag}`);
    const d = open(out);
    assert.deepEqual(d.compression, codec ? [codec] : []);
    assert.ok(samePages(input, d, 3000) === 3000, `${codec}: pages compared`);
    if (codec === 'lzo' && haveMakedumpfile) assert.equal(mdfDmesg(out), ORACLE_DMESG);
  }
});

test('the pages kept equal makedumpfile\'s (2nd bitmaps) when both re-filter the same dump', { skip: noMakedumpfile }, () => {
  for (const level of ['1', '31']) {
    const ours = join(dir, `ours-${level}.kdump`);
    const theirs = join(dir, `mdf-${level}.kdump`);
    ok(vmcoreTs(['save', '-c', '-d', level, '--message-level', '0', FIXTURE, ours]), 'save');
    assert.equal(makedumpfile('-c', '-d', level, FIXTURE, theirs).status, 0);
    assert.ok(dumpBitmap(ours).equals(dumpBitmap(theirs)), `dump level ${level}: same 2nd bitmap`);
  }
});

// An unfiltered ELF /proc/vmcore of a real guest, saved by the e2e harness (e2e/kdump.test.ts).
const RAW_DIR = join(process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts'), 'vmcore');
const RAW = ['bookworm-qemu64.elf', 'bookworm-max.elf'].map((f) => join(RAW_DIR, f)).find((p) => existsSync(p));

test('unfiltered guest vmcore: the 2nd bitmap equals makedumpfile\'s at dump levels 1, 2, 4, 8, 16, 31', { skip: noMakedumpfile || (RAW ? false : `no cached unfiltered vmcore in ${RAW_DIR} (run the e2e kdump test once)`), timeout: 600_000 }, () => {
  for (const level of ['1', '2', '4', '8', '16', '31']) {
    const ours = join(dir, `raw-ours-${level}.kdump`);
    const theirs = join(dir, `raw-mdf-${level}.kdump`);
    // No compression: this compares page sets, and keeps the test quick.
    ok(vmcoreTs(['save', '-d', level, '--message-level', '0', RAW!, ours]), `save -d ${level}`);
    assert.equal(makedumpfile('-d', level, RAW!, theirs).status, 0);
    assert.ok(dumpBitmap(ours).equals(dumpBitmap(theirs)), `dump level ${level}: same 2nd bitmap as makedumpfile`);
    rmSync(ours);
    rmSync(theirs);
  }
});

test('unfiltered guest vmcore: save -E lays out the same PT_LOADs as makedumpfile -E (dump levels 0, 1, 31)', { skip: noMakedumpfile || (RAW ? false : 'no cached unfiltered vmcore'), timeout: 600_000 }, () => {
  const loads = (path: string) =>
    (open(path).loadSegments ?? []).map((s) => `${s.paddr.toString(16)} ${s.vaddr.toString(16)} ${s.fileSize} ${s.memSize}`);
  for (const level of ['0', '1', '31']) {
    const ours = join(dir, `raw-ours-${level}.elf`);
    const theirs = join(dir, `raw-mdf-${level}.elf`);
    ok(vmcoreTs(['save', '-E', '-d', level, '--message-level', '0', RAW!, ours]), `save -E -d ${level}`);
    assert.equal(makedumpfile('-E', '-d', level, RAW!, theirs).status, 0);
    assert.deepEqual(loads(ours), loads(theirs), `dump level ${level}: PT_LOADs`);
    if (level === '31') assert.equal(mdfDmesg(ours), mdfDmesg(theirs));
    rmSync(ours);
    rmSync(theirs);
  }
});

test('save -E: an ELF core makedumpfile reads (same --dump-dmesg), with the input\'s pages', { skip: noMakedumpfile }, () => {
  const out = join(dir, 'out.elf');
  ok(vmcoreTs(['save', '-E', '-d', '31', '--message-level', '0', FIXTURE, out]), 'save -E');
  assert.equal(mdfDmesg(out), ORACLE_DMESG);
  const d = open(out);
  assert.match(d.format, /ELF/);
  assert.equal(d.incomplete, false);
  assert.ok(samePages(open(FIXTURE), d, 4000) === 4000);
});

test('save -F streams the flattened format; convert -R rebuilds the same file makedumpfile -R does', { skip: noMakedumpfile }, () => {
  const r = vmcoreTs(['save', '-F', '-c', '-d', '31', '--message-level', '0', FIXTURE]);
  ok(r, 'save -F');
  const flat = join(dir, 'out.flat');
  writeFileSync(flat, r.stdout);
  assert.equal(open(flat).incomplete, false, 'vmcore-ts opens the flattened stream itself');
  const ours = join(dir, 'rebuilt.kdump');
  ok(vmcoreTs(['convert', '-R', ours], { input: r.stdout }), 'convert -R');
  const theirs = join(dir, 'rebuilt-mdf.kdump');
  const m = spawnSync('makedumpfile', ['-R', theirs], { input: r.stdout });
  assert.equal(m.status, 0, String(m.stderr));
  assert.ok(readFileSync(ours).equals(readFileSync(theirs)), 'same bytes as makedumpfile -R');
  assert.equal(mdfDmesg(ours), ORACLE_DMESG);
});

test('convert: ELF back to kdump-compressed keeps every page', () => {
  const elf = join(dir, 'conv.elf');
  ok(vmcoreTs(['convert', '-E', '-d', '0', '--message-level', '0', FIXTURE, elf]), 'convert -E');
  const kd = join(dir, 'conv.kdump');
  ok(vmcoreTs(['convert', '-l', '-d', '0', '--message-level', '0', elf, kd]), 'convert -l');
  assert.ok(samePages(open(FIXTURE), open(kd)) > 19000);
});

test('an existing DUMPFILE is refused without -f, replaced with it', () => {
  const out = join(dir, 'exists.kdump');
  writeFileSync(out, 'keep me');
  const r = vmcoreTs(['save', '-d', '31', '--message-level', '0', FIXTURE, out]);
  assert.equal(r.status, 1);
  assert.match(String(r.stderr), /exists — give -f to replace it/);
  assert.equal(readFileSync(out, 'utf8'), 'keep me');
  ok(vmcoreTs(['save', '-f', '-d', '31', '--message-level', '0', FIXTURE, out]), 'save -f');
  assert.equal(open(out).incomplete, false);
});

const haveCrash = spawnSync('crash', ['--version']).status === 0;
test('crash opens our kdump-compressed and ELF outputs without a vmlinux (crash --osrelease)', { skip: haveCrash ? false : 'crash is not installed' }, () => {
  for (const [name, flags] of [['crash.kdump', ['-c']], ['crash.elf', ['-E']]] as const) {
    const out = join(dir, name);
    ok(vmcoreTs(['save', ...flags, '-d', '31', '--message-level', '0', FIXTURE, out]), `save ${flags}`);
    const r = spawnSync('crash', ['--osrelease', out], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.stdout.trim(), '6.1.0-56-cloud-amd64', `crash --osrelease ${name}: ${r.stdout}${r.stderr}`);
  }
});

test('usage errors exit 2 with one line', () => {
  for (const args of [['save', '-c', '-l', 'a', 'b'], ['save', '-d', '99', 'a', 'b'], ['save', FIXTURE], ['convert', '-R']]) {
    const r = vmcoreTs(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(String(r.stderr), /at .*\.ts:\d+/);
  }
});

test('save --dump-dmesg writes the log as makedumpfile does', () => {
  const out = join(dir, 'log.txt');
  ok(vmcoreTs(['save', '--dump-dmesg', FIXTURE, out]), 'save --dump-dmesg');
  assert.equal(readFileSync(out, 'utf8'), ORACLE_DMESG);
});
