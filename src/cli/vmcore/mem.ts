// vmcore-ts mem DUMP: memory use by page type from struct page (the saver's classification), and
// the kernel's own counters (vm_zone_stat / vm_node_stat) when BTF names their indexes.
import { NotInDumpError, ParseError } from '../../errors.ts';
import { memoryCounters, memoryRows, pageUsage, pageUsageRows } from '../../analyze/summary.ts';
import { formatMemory } from '../../analyze/system-info.ts';
import type { Command } from './commands.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { Gaps } from '../../analyze/completeness.ts';

const USAGE = 'vmcore-ts mem [--json] [--system-map FILE | --vmlinux FILE] DUMP';

export const memCommand: Command = {
  summary: 'memory use by page type (free, page cache, user, kernel/slab) from struct page, and the kernel counters',
  run(argv) {
    const a = parseCommand(argv, symbolOptions, USAGE, [1, 1]);
    if (!a) return 0;
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    const usage = pageUsage(kd);
    const gaps = new Gaps(kd.dump.dumpLevel);
    gaps.merge(usage.completeness);
    let counters: { label: string; bytes: bigint }[] = [];
    let countersProblem: string | undefined;
    try {
      counters = memoryRows(memoryCounters(kd));
    } catch (e) {
      if (!(e instanceof ParseError || e instanceof NotInDumpError)) throw e;
      countersProblem = e.message;
      gaps.add('kernel counter table', e);
    }
    const c = gaps.result();
    if (a.values.json) {
      write(jsonDocument({ pages: usage, byType: pageUsageRows(usage), counters, countersProblem, ...statusJson(kd, c) }) + '\n');
      return finish(kd, c);
    }
    const ps = BigInt(usage.pageSize);
    const lines = [`PAGE TYPE (struct page, ${usage.pages} page frames)      PAGES        SIZE   %TOTAL`];
    for (const r of pageUsageRows(usage)) {
      lines.push(`  ${r.label.padEnd(36)} ${String(r.pages).padStart(9)} ${formatMemory(BigInt(r.pages) * ps).padStart(11)} ${((100 * r.pages) / Math.max(1, usage.pages)).toFixed(1).padStart(7)}%`);
    }
    if (counters.length) {
      lines.push('', 'KERNEL COUNTERS (vm_zone_stat, vm_node_stat)');
      for (const r of counters) lines.push(`  ${r.label.padEnd(36)} ${formatMemory(r.bytes).padStart(21)}`);
    } else if (countersProblem) lines.push('', `kernel counters unavailable: ${countersProblem}`);
    for (const w of usage.warnings) lines.push(`WARNING: ${w}`);
    write(lines.join('\n') + '\n');
    return finish(kd, c);
  },
};
