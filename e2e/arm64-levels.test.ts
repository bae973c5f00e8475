// Issue 15: which pages vmcore-ts save keeps per dump level on arm64, against Debian's arm64
// makedumpfile 1.7.8 (harness/arm64-oracles.ts: run by qemu-aarch64-static). Input: QEMU's unfiltered
// ELF dump of the bookworm 6.1 arm64 guest (1 GiB RAM from PA 0x40000000, 48-bit VA;
// harness/arm64-dump.ts). makedumpfile cannot read QEMU's ELF (its program headers do not follow the
// ELF header), so it reads what `vmcore-ts save -E -d 0` wrote from it (the same pages, 0x40000 of
// them); ours is the scan in-process on QEMU's ELF itself (as test/dump/save-kernels.test.ts does on
// x86_64). Per level the test compares the 2nd bitmap of makedumpfile's kdump-compressed output
// (`-d N`, pages stored uncompressed) with our scan's kept bits and with the 2nd bitmap of what
// `vmcore-ts save -c -d N` wrote, page by page. Zero pages (dump level 1) keep their bitmap bit in
// both writers: each stores one zero page and points every zero page's descriptor at it, so the
// zero pages are compared as the set of pfns whose descriptor has that shared offset. Trixie's 52-bit VA kernel has no reference (makedumpfile <= 1.7.9
// refuses it: e2e/arm64-vmcore.test.ts asserts that). Opt-in: E2E_ARM64=1 or --all; about 1 to 3
// minutes once the dump and the arm64 makedumpfile are cached.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { filterFor, scanDump } from '../src/dump/scan.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import { getArm64Dump } from './harness/arm64-dump.ts';
import { arm64Makedumpfile, keptAndZero } from './harness/arm64-oracles.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotMakeRoot } from '../test/packaging/debian-root.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const asked = process.env.E2E_ARM64 === '1' || process.env.E2E_SUITES === 'all';
const skip = !asked ? 'set E2E_ARM64=1 (or --all) for the arm64 dumps (QEMU aarch64 + arm64 makedumpfile under qemu-user)' : (cannotMakeRoot() ?? false);
const log = process.env.E2E_VERBOSE ? (s: string) => console.error(`[arm64-levels] ${s}`) : () => {};
const LEVELS = [1, 2, 4, 8, 16, 31];

const dir = mkdtempSync(join(tmpdir(), 'arm64-levels-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('e2e arm64 bookworm 6.1: the pages vmcore-ts save keeps at dump levels 1, 2, 4, 8, 16, 31 are the pages makedumpfile 1.7.8 (arm64, qemu-user) keeps, page by page (its 2nd bitmap = that of our scan and of our save -c, the same zero pages)', { skip, timeout: 30 * 60_000 }, async (t) => {
  const raw = (await getArm64Dump('bookworm', log)).vmcore;
  const mdf = await arm64Makedumpfile(log);
  const d0 = join(dir, 'd0.elf');
  const conv = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `${REPO}/src/cli/vmcore-ts.ts`, 'save', '-E', '-d', '0', '--message-level', '0', raw, d0], { encoding: 'utf8', timeout: 10 * 60_000 });
  assert.equal(conv.status, 0, `vmcore-ts save -E -d 0: ${conv.stderr}`);

  const dump = openDump(new FileSource(raw));
  const rows: string[] = [];
  for (const level of LEVELS) {
    const out = join(dir, `mdf-${level}.kdump`);
    const t0 = Date.now();
    const m = mdf.run(['-d', String(level), '--message-level', '0', d0, out], 20 * 60_000);
    assert.equal(m.status, 0, `makedumpfile ${mdf.version} -d ${level}: ${m.stdout}${m.stderr}`);
    const { kd, bitmap: theirs, zero: theirZero } = keptAndZero(out);
    rmSync(out);
    const saved = join(dir, `ours-${level}.kdump`);
    const ours = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `${REPO}/src/cli/vmcore-ts.ts`, 'save', '-c', '-d', String(level), '--message-level', '0', raw, saved], { encoding: 'utf8', timeout: 10 * 60_000 });
    assert.equal(ours.status, 0, `vmcore-ts save -c -d ${level}: ${ours.stderr}`);
    const mine = keptAndZero(saved);
    rmSync(saved);
    assert.equal(mine.kd.maxPfn, kd.maxPfn);
    assert.ok(Buffer.from(mine.bitmap).equals(Buffer.from(theirs)), `dump level ${level}: the 2nd bitmap of our save = makedumpfile's`);
    assert.deepEqual(mine.zero, theirZero, `dump level ${level}: the same zero pages`);
    assert.equal(theirZero.length > 0, (level & 1) === 1, `dump level ${level}: zero pages shared only when level 1 is asked`);
    const has = (p: number) => ((theirs[p >> 3]! >> (p & 7)) & 1) === 1;

    const { filter } = filterFor(dump, level, (w) => assert.fail(w));
    const only: [number[], number[]] = [[], []];
    let kept = 0;
    const scan = scanDump(dump, filter, {
      dumpLevel: level,
      onWindow: (w) => {
        for (let i = 0; i < w.end - w.start; i++) {
          const p = w.start + i;
          const ours = ((w.kept[i >> 3]! >> (i & 7)) & 1) === 1;
          if (ours) kept++;
          if (ours !== has(p)) only[ours ? 0 : 1].push(p);
        }
      },
    });
    let theirsKept = 0;
    for (let p = 0; p < Number(kd.maxPfn); p++) if (has(p)) theirsKept++;
    assert.equal(scan.maxPfn, Number(kd.maxPfn), `dump level ${level}: max pfn`);
    const hex = (ps: number[]) => ps.slice(0, 8).map((p) => `0x${p.toString(16)}`).join(', ');
    assert.deepEqual(only[1].length, 0, `dump level ${level}: ${only[1].length} pages makedumpfile keeps and we drop (${hex(only[1])})`);
    assert.deepEqual(only[0].length, 0, `dump level ${level}: ${only[0].length} pages we keep and makedumpfile drops (${hex(only[0])})`);
    assert.equal(kept, theirsKept);
    rows.push(`-d ${level}: ${kept} in the bitmap, ${theirZero.length} of them zero (stored once), by both (makedumpfile ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    log(rows.at(-1)!);
  }
  t.diagnostic(`makedumpfile ${mdf.version} vs vmcore-ts (bitmaps up to pfn 0x${dump.maxPfn.toString(16)}): ${rows.join('; ')}`);
});
