// Real kernels: kdump with kexec-tools and makedumpfile in the guest, then our vmcore-ts on the host
// reads the dumps back and agrees with makedumpfile; the crash marker is in our dmesg.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from './harness/scenario.ts';
import { cpusFor, suites } from './harness/host.ts';
import { cacheDir } from './harness/cache.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { kdump } from './scenarios.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;

function vmcoreTs(...args: string[]): string {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `vmcore-ts ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const haveCommand = (name: string) => new RegExp(`^\\s+${name}\\s`, 'm').test(spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', '--help'], { cwd: REPO, encoding: 'utf8' }).stdout);

interface Signature {
  bucket: string;
  reason: string;
  frames: string[];
  release?: string;
}
const signatureOf = (dump: string): Signature => (JSON.parse(vmcoreTs('summary', '--json', dump)) as { signature: Signature }).signature;
/** The sysrq-c crashes' signatures, by suite (filled by the kdump tests, checked by the signature test). */
const sysrqSignatures = new Map<string, Signature>();

function infoField(info: string, field: string): string {
  const m = new RegExp(`^\\s*${field}: (.*)$`, 'm').exec(info);
  return m ? m[1]!.trim() : '';
}

for (const suite of suites()) {
  for (const cpu of cpusFor(suite)) {
    test(`e2e ${suite} -cpu ${cpu}: kdump with kexec -p and sysrq-c; makedumpfile zlib/LZO dumps read back, vmcore-ts info/dmesg agree with makedumpfile`, async (t) => {
      if (cannotRun(t, { referenceTools: true })) return;
      await orSkipOnDownload(t, async () => {
        const marker = `E2E-CRASH-${randomBytes(6).toString('hex')}`;
        // An unfiltered ELF vmcore for benchmarks, kept in the cache: made once per kernel and CPU.
        const rawKey = `${suite}-${cpu}`;
        const rawDir = cacheDir('vmcore');
        const rawWanted = process.env.E2E_RAW_VMCORE === '1' || !existsSync(join(rawDir, `${rawKey}.json`));
        const r = await runScenario({ ...kdump(suite, cpu, marker, rawWanted), log });
        assert.equal(r.marker('first', 'crash-loaded').value, '1');
        assert.equal(r.marker('capture', 'boot').value, r.kernel.release);

        const dumps = { zlib: join(r.outDir, 'vmcore-zlib.kdump'), lzo: join(r.outDir, 'vmcore-lzo.kdump') };
        for (const [kind, path] of Object.entries(dumps)) r.disk.copyOut(`vmcore-${kind}.kdump`, path);
        if (rawWanted) {
          const dest = join(rawDir, `${rawKey}.elf`);
          r.disk.copyOut('vmcore-raw.elf', `${dest}.tmp`);
          renameSync(`${dest}.tmp`, dest);
          writeFileSync(join(rawDir, `${rawKey}.json`), JSON.stringify({ suite, cpu, release: r.kernel.release, version: r.kernel.version, vmcore: dest, made: new Date().toISOString() }, null, 1) + '\n');
          t.diagnostic(`raw unfiltered ELF vmcore for benchmarks: ${dest}`);
        } else {
          t.diagnostic(`raw ELF vmcore (cached): ${JSON.parse(readFileSync(join(rawDir, `${rawKey}.json`), 'utf8')).vmcore}`);
        }

        for (const [kind, path] of Object.entries(dumps)) {
          // makedumpfile on the host is the oracle for the log
          const mdOut = join(r.outDir, `makedumpfile-dmesg-${kind}.txt`);
          execFileSync('makedumpfile', ['--dump-dmesg', path, mdOut], { stdio: 'ignore' });
          const reference = readFileSync(mdOut, 'utf8');
          assert.ok(reference.includes(marker), `makedumpfile --dump-dmesg of the ${kind} dump shows the crash marker`);
          await t.test(`vmcore-ts info and dmesg on the ${kind} dump agree with makedumpfile`, () => {
            if (haveCommand('dmesg')) {
              const ours = vmcoreTs('dmesg', path);
              assert.ok(ours.includes(marker), `vmcore-ts dmesg (${kind}) shows the crash marker ${marker}`);
              assert.equal(ours, reference, `vmcore-ts dmesg equals makedumpfile --dump-dmesg (${kind})`);
            } else t.diagnostic('vmcore-ts has no dmesg command yet: skipped that comparison');
            if (haveCommand('info')) {
              const info = vmcoreTs('info', path);
              assert.equal(infoField(info, 'RELEASE'), r.kernel.release);
              assert.equal(infoField(info, 'COMPRESSION'), kind);
              assert.equal(infoField(info, 'DUMP LEVEL'), '31');
              assert.match(infoField(info, 'PANIC'), /sysrq/);
              const la57 = /max/.test(cpu) && !/la57=off/.test(cpu);
              assert.equal(infoField(info, 'PAGING'), la57 ? '5-level' : '4-level');
            } else t.diagnostic('vmcore-ts has no info command yet: skipped that comparison');
          });
        }
        sysrqSignatures.set(`${suite} ${cpu}`, signatureOf(dumps.zlib));
        recordTimings(r, 'kdump', {
          crashToCaptureInitS: (r.marker('capture', 'boot').hostMs - r.marker('first', 'crashing').hostMs) / 1000,
          zlibSaveS: r.marker('capture', 'saved-zlib').uptime - r.marker('capture', 'stage-start').uptime,
          lzoSaveS: r.marker('capture', 'saved-lzo').uptime - r.marker('capture', 'saved-zlib').uptime,
        });
        for (const line of timingSummary(r).split('\n')) t.diagnostic(line);
        r.cleanup();
      });
    });
  }
}

const FIXTURE_DUMP = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');

test('e2e crash signatures: sysrq-c crashes of every kernel (other boots, other KASLR offsets) and the bundled 6.1 dump share one bucket; an OOM panic is another', async (t) => {
  const suite = suites()[0];
  if (!suite) return t.skip('no e2e suites selected');
  if (cannotRun(t, { referenceTools: true })) return;
  await orSkipOnDownload(t, async () => {
    const cpu = cpusFor(suite)[0]!;
    const r = await runScenario({ ...kdump(suite, cpu, `E2E-OOM-${randomBytes(6).toString('hex')}`, false, 1024, 'oom'), log });
    const oomDump = join(r.outDir, 'vmcore-oom.kdump');
    r.disk.copyOut('vmcore-zlib.kdump', oomDump);
    const oom = signatureOf(oomDump);
    t.diagnostic(`OOM: ${JSON.stringify(oom)}`);
    assert.match(oom.reason, /out of memory|panic_on_oom/i, 'the OOM panic is named as the reason');
    assert.ok(oom.frames.some((f) => /out_of_memory|alloc_pages|oom/.test(f)), `the OOM path is in the frames: ${oom.frames.join(' < ')}`);

    const bundled = signatureOf(FIXTURE_DUMP);
    assert.equal(bundled.reason, 'sysrq triggered crash');
    assert.deepEqual(bundled.frames.slice(0, 3), ['sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger'], 'panic machinery dropped, compiler suffixes (.cold) removed');
    for (const [where, sig] of sysrqSignatures) {
      t.diagnostic(`sysrq ${where}: ${sig.bucket} ${sig.release}`);
      // Before 5.11 (bullseye's 5.10) sysrq-c is a NULL-pointer write that oopses: another crash, another reason.
      if (sig.reason === bundled.reason) assert.equal(sig.bucket, bundled.bucket, `the sysrq crash on ${where} (${sig.release}) is the bundled dump's bucket`);
      else assert.equal(sig.frames[0], 'sysrq_handle_crash', `the sysrq oops on ${where} (${sig.release}) faults in sysrq_handle_crash`);
    }
    assert.notEqual(oom.bucket, bundled.bucket, 'an OOM panic is another bucket');
    r.cleanup();
  });
});
