// vmcore-ts's CommonJS launcher (dist/vmcore-ts.cjs, made by scripts/build.mjs; what bin/vmcore-ts.cjs,
// the Debian package and a root-mode capture kernel run) sends dmesg, info, summary and save (and
// crash's names log, sys) to their own CommonJS files and every other command to the ESM bundle.
// Whichever path, the same output, files, errors and exit codes as the ESM bundle alone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { vmcoreAliases, vmcoreCommands } from '../../src/cli/vmcore/commands.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const launcher = 'dist/vmcore-ts.cjs';
const esm = 'dist/vmcore-ts.mjs';
const skip = existsSync(launcher) && existsSync(esm) ? false : 'no build (node scripts/build.mjs)';
const dump = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';

// With the bins' flags (src/node-args.ts: no concurrent TurboFan, which can hang Node 20 at exit).
function run(entry: string, args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, entry, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The launcher's command → file table, read from the file it is. */
function fastTable(): Record<string, string> {
  const m = /^const fast = (\{.*\});$/m.exec(readFileSync(launcher, 'utf8'));
  assert.ok(m, 'dist/vmcore-ts.cjs has its table');
  return JSON.parse(m[1]!) as Record<string, string>;
}

test('vmcore launcher: dmesg, log, info, sys and summary run from their CommonJS files, with the ESM bundle\'s output byte for byte', { skip }, () => {
  const fast = fastTable();
  for (const cmd of ['dmesg', 'log', 'info', 'sys', 'summary']) {
    assert.ok(Object.hasOwn(fast, cmd) && existsSync(`dist/vmcore-ts-${fast[cmd]}.cjs`), `${cmd} has a CommonJS file`);
    const a = run(launcher, [cmd, dump]);
    assert.equal(a.status, 0, a.stderr);
    assert.ok(a.stdout.length > 100);
    assert.deepEqual(a, run(esm, [cmd, dump]), cmd);
  }
});

test('vmcore launcher: every alias of a command with a CommonJS file is in the table, pointing where vmcoreAliases does; each entry names a real command', { skip }, () => {
  const fast = fastTable();
  for (const [alias, target] of Object.entries(vmcoreAliases)) if (Object.hasOwn(fast, target)) assert.equal(fast[alias], target, alias);
  for (const [name, file] of Object.entries(fast)) {
    assert.ok(Object.hasOwn(vmcoreCommands, file), `${file} is a command`);
    assert.equal(vmcoreAliases[name] ?? name, file, name);
  }
});

test('vmcore launcher: --help, missing arguments, a missing dump and a bad option answer as the ESM bundle does (text and exit code); other commands and the top level go to it', { skip }, () => {
  for (const args of [['dmesg', '--help'], ['dmesg'], ['dmesg', '/nonexistent/vmcore'], ['info', '--bogus', dump], ['summary', 'fixtures'], ['bt', dump], ['--version'], [], ['nosuch']]) {
    const a = run(launcher, args);
    assert.deepEqual(a, run(esm, args), args.join(' '));
    assert.ok(!/\n\s+at /.test(a.stderr), `no stack trace: ${a.stderr}`);
  }
});

test('vmcore launcher: save runs from its CommonJS file and writes the ESM bundle\'s file byte for byte (kdump-compressed, ELF, flattened to stdout), with its report', { skip }, () => {
  assert.equal(fastTable().save, 'save');
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-launcher-'));
  try {
    for (const mode of [['-l', '-d', '31'], ['-c', '-d', '1'], ['-E', '-d', '31']]) {
      const [a, b] = [launcher, esm].map((entry, i) => {
        const out = join(dir, `${mode.join('')}-${i}`);
        // message level 22: the report, no progress lines (their rates differ from run to run)
        const r = run(entry, ['save', ...mode, '--message-level', '22', dump, out]);
        assert.equal(r.status, 0, r.stderr);
        return { report: r.stdout + r.stderr.replaceAll(out, 'OUT').replace(/ in [0-9.]+ s$/m, ''), file: readFileSync(out) };
      });
      assert.match(a.report, /Remaining pages/);
      assert.equal(a.report, b.report, mode.join(' '));
      assert.ok(a.file.length > 4096 && Buffer.compare(a.file, b.file) === 0, `${mode.join(' ')}: the same file`);
    }
    const flat = (entry: string) => spawnSync(process.execPath, [...NODE_ARGS, entry, 'save', '-F', '-l', '-d', '31', '--message-level', '0', dump], { timeout: 60_000, maxBuffer: 1 << 30 });
    const [fa, fb] = [flat(launcher), flat(esm)];
    assert.equal(fa.status, 0, String(fa.stderr));
    assert.ok(fa.stdout.length > 4096 && Buffer.compare(fa.stdout, fb.stdout) === 0, 'the same flattened stream');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vmcore launcher: save\'s --help, missing arguments, an existing output without -f and a bad dump level answer as the ESM bundle does', { skip }, () => {
  for (const args of [['save', '--help'], ['save'], ['save', '-l', dump, 'package.json'], ['save', '-d', '32', dump, '/nonexistent/dir/out']]) {
    const a = run(launcher, args);
    assert.notEqual(a.status, null, args.join(' '));
    assert.deepEqual(a, run(esm, args), args.join(' '));
    assert.ok(!/\n\s+at /.test(a.stderr), `no stack trace: ${a.stderr}`);
  }
});

test('vmcore launcher: save -c from the CommonJS file compresses in compress-worker.cjs, one per --num-threads, and writes the ESM bundle\'s file', { skip }, () => {
  // A copy of the launcher and the save bundle whose compress-worker.cjs notes each start, then runs
  // the real one (under node_modules/, so that koffi resolves from the copy as from dist/).
  const dir = mkdtempSync(join('node_modules', '.vmcore-launcher-'));
  try {
    for (const f of ['vmcore-ts.cjs', 'vmcore-ts-save.cjs']) copyFileSync(join('dist', f), join(dir, f));
    const marks = join(dir, 'marks');
    writeFileSync(
      join(dir, 'compress-worker.cjs'),
      `require('node:fs').appendFileSync(${JSON.stringify(marks)}, 'started\\n');\nrequire(${JSON.stringify(join(process.cwd(), 'dist/compress-worker.cjs'))});\n`,
    );
    const save = (entry: string, out: string) => {
      const r = run(entry, ['save', '-c', '-d', '31', '--num-threads', '2', '--message-level', '0', dump, out]);
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(out);
    };
    const a = save(join(dir, 'vmcore-ts.cjs'), join(dir, 'a'));
    assert.equal(readFileSync(marks, 'utf8'), 'started\nstarted\n', 'two CommonJS workers');
    assert.ok(Buffer.compare(a, save(esm, join(dir, 'b'))) === 0, 'the same file as the ESM bundle (its compress-worker.mjs)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
