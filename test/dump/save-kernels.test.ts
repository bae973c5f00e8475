// The pages vmcore-ts save keeps per dump level against makedumpfile 1.7.2 on unfiltered ELF vmcores
// of real guests of other kernel generations than the 6.1 one save.test.ts compares: 5.10 (bullseye),
// 6.12 (trixie) and 7.2 (sid), cached by the e2e harness. Ours comes from the scan in-process, theirs
// from the 2nd bitmap of its output.
//
// makedumpfile 1.7.2 (2022) predates two kernel changes, so where the page sets differ, each page
// kept only by us is checked in its struct page to be one that makedumpfile 1.7.2 drops wrongly
// (slab pages on 6.10+, tails of compound kernel pages on 7.1+: ./makedumpfile-known-drops.ts).
// Free pages (level 16) are the same on every kernel: 6.12's page types (PGTY_buddy << 24) are the
// exact PAGE_BUDDY_MAPCOUNT_VALUE, which 1.7.2 compares _mapcount with.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { filterFor, scanDump } from '../../src/dump/scan.ts';
import { KdumpCompressedDump } from '../../src/format/kdump-compressed.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { whyMakedumpfile172Drops } from './makedumpfile-known-drops.ts';

const dir = mkdtempSync(join(tmpdir(), 'vmcore-kernels-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const RAW_DIR = join(process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts'), 'vmcore');
const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;
const LEVELS = [1, 2, 4, 8, 16, 31];

for (const [file, kernel] of [['bullseye-max.elf', '5.10'], ['trixie-max.elf', '6.12'], ['sid-max.elf', '7.2']] as const) {
  const raw = join(RAW_DIR, file);
  const skip = !haveMakedumpfile ? 'makedumpfile is not installed' : !existsSync(raw) ? `no cached ${file} in ${RAW_DIR} (the e2e kdump test makes it)` : false;
  test(`${kernel} guest vmcore: the pages kept at dump levels 1-31 equal makedumpfile 1.7.2's but for kernel pages it drops wrongly`, { skip, timeout: 300_000 }, (t) => {
    const dump = openDump(new FileSource(raw));
    const found: string[] = [];
    for (const level of LEVELS) {
      const out = join(dir, `mdf-${level}.kdump`);
      const m = spawnSync('makedumpfile', ['-d', String(level), raw, out], { encoding: 'utf8' });
      assert.equal(m.status, 0, `makedumpfile -d ${level}: ${m.stdout}${m.stderr}`);
      const d = new KdumpCompressedDump(new FileSource(out));
      const theirs = d.source.read(d.bitmap2Offset, Math.ceil(Number(d.maxPfn) / 8));
      rmSync(out);

      const { filter } = filterFor(dump, level, (w) => assert.fail(w));
      const only: number[][] = [[], []];
      const scan = scanDump(dump, filter, {
        dumpLevel: level,
        onWindow: (w) => {
          for (let i = 0; i < w.end - w.start; i++) {
            const p = w.start + i;
            const ours = (w.kept[i >> 3]! >> (i & 7)) & 1;
            if (ours !== ((theirs[p >> 3]! >> (p & 7)) & 1)) only[ours ? 0 : 1]!.push(p);
          }
        },
      });
      assert.equal(scan.maxPfn, Number(d.maxPfn));
      assert.deepEqual(only[1], [], `dump level ${level}: pages makedumpfile keeps and we drop`);
      const why = { slab: 0, tail: 0 };
      const has = (p: number) => ((theirs[p >> 3]! >> (p & 7)) & 1) === 1;
      for (const p of only[0]!) {
        const w = whyMakedumpfile172Drops(filter!, p);
        assert.ok(w, `dump level ${level}: pfn 0x${p.toString(16)} kept by us only: neither a slab page nor a tail page`);
        if (w.kind === 'tail') assert.ok(has(w.head), `dump level ${level}: makedumpfile drops tail pfn 0x${p.toString(16)} and its head 0x${w.head.toString(16)}`);
        why[w.kind]++;
      }
      if (only[0]!.length) found.push(`-d ${level}: ${why.slab} slab pages, ${why.tail} tail pages of compound kernel pages it keeps the head of`);
      // Only the anonymous-page test (dump level 8) mistakes slab pages; older kernels agree fully.
      if (!(level & 8) || kernel === '5.10') assert.equal(only[0]!.length, 0, `dump level ${level}: the same pages`);
    }
    t.diagnostic(found.length ? `kept by us only: ${found.join('; ')}` : 'the same pages at every level');
  });
}
