// Where save/convert/--dump-dmesg/--svg/mkinitrd write: never the input, never over an existing file
// without -f (makedumpfile's rule), a fresh 0600 file under a temporary name renamed into place,
// never through a symlink at the destination, one writer per output.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { OutputFile } from '../../src/host/output-file.ts';
import { OutputError } from '../../src/errors.ts';
import { FdSink, syncFileRangeWrite } from '../../src/host/file-sink.ts';
import { probeSection } from '../kexec/fixture.ts';
import { fakeVmlinux } from '../kexec/synthetic.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const dir = mkdtempSync(join(tmpdir(), 'vmcore-output-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;

function cli(bin: string, args: string[], opts: { stdin?: number } = {}) {
  return spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `src/cli/${bin}.ts`, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'],
  });
}
const vmcoreTs = (args: string[], opts: { stdin?: number } = {}) => cli('vmcore-ts', args, opts);
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
/** Files in `dir` other than the ones named (temporary files and locks left behind). */
const leftovers = (d: string, keep: string[]) => readdirSync(d).filter((f) => !keep.includes(f));

test('convert -f X X, through a symlink, a hard link or /proc/self/fd/0: refused before writing, X intact, exit 1', () => {
  const d = mkdtempSync(join(dir, 'same-'));
  const x = join(d, 'X.kdump');
  copyFileSync(FIXTURE, x);
  symlinkSync('X.kdump', join(d, 'sym'));
  linkSync(x, join(d, 'hard'));
  const before = sha(x);
  for (const out of [x, join(d, 'sym'), join(d, 'hard')]) {
    const r = vmcoreTs(['convert', '-f', '-l', '--message-level', '0', x, out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /is the input .*itself.*give another output file/);
    assert.equal(sha(x), before, `X intact after convert -f X ${out}`);
  }
  const fd = spawnSync('sh', ['-c', `exec node --import tsx src/cli/vmcore-ts.ts convert -f -l --message-level 0 '${x}' /proc/self/fd/0 < '${x}'`], { cwd: REPO, encoding: 'utf8' });
  assert.equal(fd.status, 1, fd.stderr);
  assert.match(fd.stderr, /\/proc\/self\/fd\/0 is the input/);
  for (const args of [['save', '-f', '-c', x, x], ['save', '-f', '--dump-dmesg', x, join(d, 'sym')]]) {
    const r = vmcoreTs(args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(sha(x), before);
  }
  const rr = spawnSync('sh', ['-c', `exec node --import tsx src/cli/vmcore-ts.ts convert -R -f '${x}' < '${x}'`], { cwd: REPO, encoding: 'utf8' });
  assert.equal(rr.status, 1, rr.stderr);
  assert.equal(sha(x), before, 'convert -R X < X leaves X');
  assert.deepEqual(leftovers(d, ['X.kdump', 'sym', 'hard']), [], 'no temporary file or lock left');
});

test('an existing output is refused without -f by save, convert, --dump-dmesg and kexec-ts --svg (as makedumpfile refuses it)', () => {
  const d = mkdtempSync(join(dir, 'exists-'));
  const out = join(d, 'exists');
  writeFileSync(out, 'keep me');
  const iomem = join(d, 'iomem');
  writeFileSync(iomem, probeSection('IOMEM'));
  const kernel = join(d, 'vmlinux');
  writeFileSync(kernel, fakeVmlinux([{ vaddr: 0xffffffff81000000n, paddr: 0x1000000n, filesz: 0x3000, memsz: 0x8000 }], 0xffffffff81000000n));
  const svg = cli('kexec-ts', ['--dry-run', '-l', '-c', '--iomem', iomem, '--command-line', 'x', '--svg', join(d, 'plan.svg'), kernel]);
  assert.equal(svg.status, 0, svg.stderr);
  assert.equal(statSync(join(d, 'plan.svg')).mode & 0o777, 0o600);
  const runs: [string, ReturnType<typeof cli>][] = [
    ['save', vmcoreTs(['save', '-d', '31', '--message-level', '0', FIXTURE, out])],
    ['convert', vmcoreTs(['convert', '-c', '--message-level', '0', FIXTURE, out])],
    ['--dump-dmesg', vmcoreTs(['save', '--dump-dmesg', FIXTURE, out])],
    ['convert -R', spawnSync('sh', ['-c', `node --import tsx src/cli/vmcore-ts.ts save -F -d 31 --message-level 0 '${FIXTURE}' | node --import tsx src/cli/vmcore-ts.ts convert -R '${out}'`], { cwd: REPO, encoding: 'utf8' })],
    ['kexec-ts --svg', cli('kexec-ts', ['--dry-run', '-l', '-c', '--iomem', iomem, '--command-line', 'x', '--svg', out, kernel])],
  ];
  for (const [what, r] of runs) {
    assert.equal(r.status, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /exists — give -f.* to replace it/, what);
    assert.equal(readFileSync(out, 'utf8'), 'keep me', what);
  }
  if (haveMakedumpfile) {
    const m = spawnSync('makedumpfile', ['-c', '-d', '31', FIXTURE, out], { encoding: 'utf8' });
    assert.notEqual(m.status, 0, 'makedumpfile refuses an existing DUMPFILE too');
    assert.equal(readFileSync(out, 'utf8'), 'keep me');
  }
  assert.equal(cli('kexec-ts', ['--dry-run', '-l', '-c', '-f', '--iomem', iomem, '--command-line', 'x', '--svg', out, kernel]).status, 0, 'kexec-ts --dry-run -f --svg replaces it');
  assert.match(readFileSync(out, 'utf8'), /<svg/);
  assert.deepEqual(leftovers(d, ['exists', 'iomem', 'vmlinux', 'plan.svg']), []);
});

test('-f replaces by rename: a 0644 file becomes a fresh 0600 dump; a symlink at the destination is replaced, its target untouched', () => {
  const d = mkdtempSync(join(dir, 'force-'));
  const out = join(d, 'dump');
  writeFileSync(out, 'old', { mode: 0o644 });
  const ino = statSync(out).ino;
  assert.equal(vmcoreTs(['save', '-f', '-d', '31', '--message-level', '0', FIXTURE, out]).status, 0);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.notEqual(statSync(out).ino, ino, 'a new file, not the old one truncated');
  assert.equal(openDump(new FileSource(out)).incomplete, false);
  const target = join(d, 'precious');
  writeFileSync(target, 'precious');
  const link = join(d, 'link');
  symlinkSync(target, link);
  for (const args of [['save', '-f', '-d', '31', '--message-level', '0', FIXTURE, link], ['save', '-f', '--dump-dmesg', FIXTURE, link]]) {
    assert.equal(vmcoreTs(args).status, 0, args.join(' '));
    assert.equal(readFileSync(target, 'utf8'), 'precious', `${args[2]}: the symlink's target is untouched`);
    assert.ok(lstatSync(link).isFile() && (lstatSync(link).mode & 0o777) === 0o600, 'the symlink is replaced by a 0600 file');
    rmSync(link);
    symlinkSync(target, link);
  }
  const log = join(d, 'log');
  assert.equal(vmcoreTs(['save', '--dump-dmesg', FIXTURE, log]).status, 0);
  assert.equal(statSync(log).mode & 0o777, 0o600);
  assert.deepEqual(leftovers(d, ['dump', 'precious', 'link', 'log']), []);
});

test('two simultaneous save -f to one path: one succeeds, the other fails naming the writer; the result opens complete', async () => {
  const d = mkdtempSync(join(dir, 'race-'));
  const out = join(d, 'dump');
  const start = () => {
    const c = spawn(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '-f', '-c', '-d', '0', '--num-threads', '0', '--message-level', '0', FIXTURE, out], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (b) => (err += b));
    return { child: c, done: new Promise<{ code: number | null; err: string }>((resolve) => c.on('exit', (code) => resolve({ code, err }))) };
  };
  // The second runs while the first is writing (its lock exists): the first is stopped (SIGSTOP)
  // meanwhile, so a fast first save cannot finish before the second looks at the lock. On a busy
  // machine the first may still finish between the look and the stop: then it is tried again.
  const lock = join(d, '.dump.lock');
  let first = start();
  for (let attempt = 1; ; attempt++) {
    for (let i = 0; i < 3000 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(existsSync(lock), 'the first save took its lock');
    first.child.kill('SIGSTOP');
    await stopped(first.child.pid!);
    if (existsSync(lock)) break;
    first.child.kill('SIGCONT');
    assert.equal((await first.done).code, 0);
    assert.ok(attempt < 5, 'the first save finished before it could be stopped, 5 times');
    first = start();
  }
  let second: { code: number | null; err: string };
  try {
    second = await start().done;
  } finally {
    first.child.kill('SIGCONT');
  }
  const a = await first.done;
  assert.equal(a.code, 0, a.err);
  assert.equal(second.code, 1, second.err);
  // (its pid, or — when the first was stopped between creating its lock and writing its pid into it — that it is new)
  assert.match(second.err, /dump is being written by another process \((pid \d+|its lock .* was created just now)/);
  assert.equal(openDump(new FileSource(out)).incomplete, false);
  assert.deepEqual(leftovers(d, ['dump']), [], 'lock and temporary files gone');
});

/**
 * Until the kernel has stopped `pid` (kill() only sends SIGSTOP; the process runs on until it is
 * delivered): its state in /proc/PID/stat is T. Returns too when it has exited meanwhile.
 */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (/\) [TtZ] /.test(stat)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('a lock left by a killed writer (its pid is gone) is taken over', () => {
  const d = mkdtempSync(join(dir, 'stale-'));
  const out = join(d, 'dump');
  const dead = spawnSync('true').pid!;
  writeFileSync(join(d, '.dump.lock'), `${dead}\n`);
  const f = OutputFile.create(out, { force: false });
  f.commit();
  assert.ok(existsSync(out));
  assert.deepEqual(leftovers(d, ['dump']), []);
});

test('a lock still without a pid (its writer between creating it and writing its pid) stops a second writer; left so for long, it is taken over', () => {
  const d = mkdtempSync(join(dir, 'empty-lock-'));
  const out = join(d, 'dump');
  const lock = join(d, '.dump.lock');
  writeFileSync(lock, '');
  assert.throws(() => OutputFile.create(out, { force: false }), (e: Error) => e instanceof OutputError && /is being written by another process \(its lock .*\.dump\.lock was created just now and has no pid yet\)/.test(e.message));
  assert.ok(existsSync(lock), 'the new lock is left to its writer');
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const f = OutputFile.create(out, { force: false });
  f.commit();
  assert.ok(existsSync(out));
  assert.deepEqual(leftovers(d, ['dump']), []);
});

test('SIGKILL during save -f: the earlier dump is untouched; the temporary file beside it says INCOMPLETE and opens', async () => {
  const d = mkdtempSync(join(dir, 'kill-'));
  const out = join(d, 'dump');
  copyFileSync(FIXTURE, out);
  const before = sha(out);
  const child = spawn(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '-f', '-c', '-d', '0', '--num-threads', '0', '--message-level', '0', FIXTURE, out], { cwd: REPO, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const temp = () => readdirSync(d).find((f) => f.startsWith('.dump.part-'));
  for (let i = 0; i < 6000 && !(temp() && statSync(join(d, temp()!)).size > 3 << 20); i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  assert.equal(sha(out), before, 'the earlier dump is as it was');
  const t = temp();
  assert.ok(t, 'the killed save left its temporary file');
  assert.equal(statSync(join(d, t)).mode & 0o777, 0o600);
  const partial = openDump(new FileSource(join(d, t)));
  assert.equal(partial.incomplete, true);
  // The next save to the same path takes over the dead writer's lock.
  assert.equal(vmcoreTs(['save', '-f', '-d', '31', '--message-level', '0', FIXTURE, out]).status, 0);
});

test('kdump-ts mkinitrd: writeArchive killed half-way leaves the earlier initramfs in place', async () => {
  const d = mkdtempSync(join(dir, 'initrd-'));
  const out = join(d, 'initrd.img');
  writeFileSync(out, 'the earlier initramfs');
  const script = `import { writeArchive } from '${REPO}src/host/initramfs-collect.ts';
import { randomBytes } from 'node:crypto';
const chunks = Array.from({ length: 48 }, () => randomBytes(1 << 20));
await writeArchive(chunks, process.argv[2], 9);`;
  const child = spawn(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--input-type=module', '-e', script, out], { cwd: REPO, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const temp = () => readdirSync(d).find((f) => f.startsWith('.initrd.img.part-'));
  for (let i = 0; i < 3000 && !(temp() && statSync(join(d, temp()!)).size > 1 << 20); i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  assert.equal(readFileSync(out, 'utf8'), 'the earlier initramfs');
  // Finished, it replaces the file whole.
  const { writeArchive } = await import('../../src/host/initramfs-collect.ts');
  const size = await writeArchive([new Uint8Array(1000)], out, 0);
  assert.equal(size, 1000);
  assert.equal(statSync(out).size, 1000);
});

test('FdSink hands each further 16 MiB to writeback, from where the last handoff ended (writes behind it left to the fsync); truncate starts over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fd-sink-'));
  try {
    const file = OutputFile.create(join(dir, 'out'), { force: false });
    const calls: [number, number][] = [];
    const sink = new FdSink(file.fd, (_fd, offset, length) => calls.push([offset, length]));
    const MiB = 1 << 20;
    const chunk = new Uint8Array(3 * MiB).fill(7);
    for (let at = 0; at < 36 * MiB; at += chunk.length) sink.write(at, chunk); // up to 18, 33 MiB
    sink.write(0, new Uint8Array(4096)); // a header rewritten: nothing new to hand over
    assert.deepEqual(calls, [[0, 18 * MiB], [18 * MiB, 18 * MiB]]);
    sink.truncate();
    sink.write(20 * MiB, chunk);
    assert.deepEqual(calls.slice(2), [[0, 23 * MiB]], 'after truncate, from 0 again');
    file.commit();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FdSink with the real sync_file_range (koffi): 40 MiB written out of order read back byte for byte; a bad fd is no error (best effort)', () => {
  const real = syncFileRangeWrite();
  assert.ok(real, 'sync_file_range binds through koffi here');
  const dir = mkdtempSync(join(tmpdir(), 'fd-sink-'));
  try {
    const path = join(dir, 'out');
    const file = OutputFile.create(path, { force: false });
    const sink = new FdSink(file.fd);
    const MiB = 1 << 20;
    const want = new Uint8Array(40 * MiB);
    for (let i = 0; i < want.length; i += 4096) want[i] = (i >>> 12) & 255;
    for (const at of [8, 0, 24, 16, 32].map((m) => m * MiB)) sink.write(at, want.subarray(at, at + 8 * MiB));
    file.commit();
    assert.ok(Buffer.from(want).equals(readFileSync(path)));
    real(-1, 0, MiB);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
