// The 8 scripts of examples/scripts/ (issue 17's drgn ports): each run on the bundled dump through
// the API (fast, in-process) and checked for its shape and what the guest was; on the real QEMU
// dumps in ~/.cache/kexec-ts/vmcore/*.elf when present (skipped otherwise); and `vmcore-ts run`'s
// contract (JSON on stdout, one line + exit code for a bad script) once through the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openKernelDump, type CrashDump } from '../../src/host/package-entry.ts';
import { scriptJson } from '../../src/cli/vmcore/run.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const SCRIPTS = ['tasks-by-state', 'mutex-owner', 'slab-usage', 'modules', 'runqueues', 'task-files', 'mounts', 'meminfo'];
const MEMINFO_KEYS = ['MemTotal', 'MemFree', 'Buffers', 'Cached', 'Shmem', 'KReclaimable', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'PageTables', 'Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable', 'Mlocked'];

type Script = (dump: CrashDump, args: string[]) => unknown;
async function script(name: string): Promise<Script> {
  return ((await import(pathToFileURL(`examples/scripts/${name}.ts`).href)) as { default: Script }).default;
}
/** What `run` prints, parsed back: the JSON the oracle side compares. */
async function runScript(dump: CrashDump, name: string, args: string[] = []): Promise<any> {
  return JSON.parse(scriptJson(await (await script(name))(dump, args)));
}

const keysOf = (o: object) => Object.keys(o);

/** Shape checks shared by every dump: the keys exactly as the contract (prompts/helpers-spec) says. */
async function checkShapes(dump: CrashDump): Promise<Record<string, any>> {
  const out: Record<string, any> = {};
  for (const s of SCRIPTS) out[s] = await runScript(dump, s);
  const t = out['tasks-by-state'];
  assert.deepEqual(keysOf(t), ['counts', 'D']);
  for (const d of t.D) assert.deepEqual(keysOf(d), ['pid', 'comm', 'stack']);
  for (const m of out['mutex-owner']) assert.deepEqual(keysOf(m), ['mutex', 'owner']);
  for (const c of out['slab-usage']) assert.deepEqual(keysOf(c), ['name', 'objectSize', 'size', 'slabs', 'objects']);
  for (const m of out.modules) assert.deepEqual(keysOf(m), ['name', 'size']);
  for (const q of out.runqueues) assert.deepEqual(keysOf(q), ['cpu', 'nrRunning', 'curr', 'queued']);
  for (const f of out['task-files']) assert.deepEqual(keysOf(f), ['fd', 'path']);
  for (const m of out.mounts) assert.deepEqual(keysOf(m), ['devname', 'mountpoint', 'fstype']);
  assert.deepEqual(keysOf(out.meminfo), MEMINFO_KEYS.filter((k) => k in out.meminfo));
  for (const k of ['MemTotal', 'MemFree', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'Mlocked']) assert.equal(typeof out.meminfo[k], 'number', k);
  return out;
}

test('scripts on the bundled dump: the 8 shapes, and the values crash/drgn saw for this guest', async () => {
  const dump = openKernelDump(DUMP);
  const out = await checkShapes(dump);
  assert.deepEqual(out['tasks-by-state'], { counts: { R: 1, S: 15, I: 38 }, D: [] });
  assert.equal(out['mutex-owner'].length, 6);
  assert.deepEqual(out.modules.map((m: { name: string }) => m.name), ['virtio_blk', 'virtio_pci', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio', 'virtio_ring']);
  assert.deepEqual(out.runqueues.map((q: { curr: number }) => q.curr), [0, 1]);
  assert.deepEqual(out['task-files'][1], { fd: 1, path: '/proc/sysrq-trigger' });
  assert.equal(out.mounts[0].mountpoint, '/');
  assert.deepEqual(await runScript(dump, 'mutex-owner', ['tty_mutex', 'not_a_symbol']), [{ mutex: 'tty_mutex', owner: null }]);
  assert.deepEqual(await runScript(dump, 'task-files', ['2']), []); // kthreadd: no open files
});

const ELF_DIR = join(homedir(), '.cache/kexec-ts/vmcore');
/** x86_64 ELF cores only (EM_X86_64 = 62 at e_machine): the analysis reads x86_64 kernels. */
function isX86(f: string): boolean {
  const fd = openSync(join(ELF_DIR, f), 'r');
  const b = Buffer.alloc(20);
  readSync(fd, b, 0, 20, 0);
  closeSync(fd);
  return b.readUInt16LE(18) === 62;
}
const elfs = existsSync(ELF_DIR) ? readdirSync(ELF_DIR).filter((f) => f.endsWith('.elf') && isX86(f)) : [];
for (const f of elfs.length ? elfs : ['(none)']) {
  test(`scripts on the QEMU dump ${f}: the 8 shapes, init and its files, one run queue per possible CPU`, { skip: elfs.length ? false : `no dumps in ${ELF_DIR}` }, async () => {
    const dump = openKernelDump(join(ELF_DIR, f));
    const out = await checkShapes(dump);
    assert.ok(out['tasks-by-state'].counts.S > 0);
    assert.equal(out.runqueues.length, dump.possibleCpus().length);
    assert.ok(out['slab-usage'].length > 50);
    assert.ok(out.mounts.some((m: { mountpoint: string }) => m.mountpoint === '/proc'));
    assert.ok(out.meminfo.MemTotal > out.meminfo.MemFree);
  });
}

const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts', 'run'];

test('vmcore-ts run (a process): prints the script result as one JSON line on stdout, exit 0', () => {
  const ok = spawnSync(process.execPath, [...NODE_ARGS, ...CLI, 'examples/scripts/mutex-owner.ts', DUMP, 'tty_mutex'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stderr, '');
  assert.deepEqual(JSON.parse(ok.stdout), [{ mutex: 'tty_mutex', owner: null }]);
});

/** `vmcore-ts run` in this process (runScript), its output captured. */
async function runInProcess(argv: string[]): Promise<{ code: number | undefined; out: string; err: string; thrown?: Error }> {
  const { runScript } = await import('../../src/cli/vmcore/run.ts');
  let out = '';
  let err = '';
  const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
  try {
    return { code: await runScript(argv, io), out, err };
  } catch (e) {
    return { code: undefined, out, err, thrown: e as Error };
  }
}

test('vmcore-ts run: a script that throws (typed or not), one without a default export and a missing script are one line and an exit code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'run-test-'));
  try {
    writeFileSync(join(dir, 'throws.ts'), "import type { CrashDump } from 'kexec-ts';\nexport default (dump: CrashDump) => {\n  dump.object('init_task').member('nope');\n};\n");
    writeFileSync(join(dir, 'plain.mjs'), "export default () => { throw new Error('boom'); };\n");
    writeFileSync(join(dir, 'nodefault.ts'), 'export const x: number = 1;\n');
    writeFileSync(join(dir, 'args.ts'), 'export default (_d: unknown, args: string[]): string[] => args;\n');
    const thrown = await runInProcess([join(dir, 'throws.ts'), DUMP]);
    assert.equal(thrown.code, 1);
    assert.match(thrown.err, /^vmcore-ts run: .*throws\.ts: struct task_struct has no member 'nope' \(at 0x[0-9a-f]+\) — .*\n$/);
    const plain = await runInProcess([join(dir, 'plain.mjs'), DUMP]);
    assert.equal(plain.code, 1);
    assert.match(plain.err, /^vmcore-ts run: .*plain\.mjs:1: Error: boom\n$/);
    const none = await runInProcess([join(dir, 'nodefault.ts'), DUMP]);
    assert.equal(none.code, 2);
    assert.match(none.err, /has no default export function/);
    const args = await runInProcess(['--force', join(dir, 'args.ts'), DUMP, 'a', '--b', '-h']);
    assert.equal(args.code, 0);
    assert.equal(args.out, '["a","--b","-h"]\n', 'options after DUMP are the script\'s');
    const missing = await runInProcess([join(dir, 'missing.ts'), DUMP]);
    assert.equal(missing.thrown?.name, 'UsageError');
    assert.match(missing.thrown!.message, /missing\.ts: no such script file$/);
    const notScript = await runInProcess(['README.md', DUMP]);
    assert.match(notScript.thrown!.message, /a script is a \.ts, \.mts, \.js or \.mjs file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
