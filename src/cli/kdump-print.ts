// What kdump-ts prints: `status` in plain words or as JSON, `test`'s checks. Pure (the CLI writes it).
import { DUMP_LEVEL_WORDS } from '../analyze/page-class.ts';
import { JSON_SCHEMA } from '../json-schema.ts';
import { formatSize } from '../kdump/crashkernel.ts';
import type { Check } from '../kdump/readiness.ts';
import { formatSavedDump, type KdumpStatus } from '../kdump/status.ts';
import { hex } from '../text.ts';

/** The status in plain words, one fact per line. */
export function formatStatus(s: KdumpStatus): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${(k + ':').padEnd(17)} ${v}`);
  row('config', s.config.found ? s.config.path : `${s.config.path} (not found: defaults)`);
  row(
    'memory reserved',
    s.reserved
      ? `${formatSize(s.reserved.size)} at ${hex(s.reserved.start)}-${hex(s.reserved.end)}${s.reserved.param ? ` (${s.reserved.param})` : ''}`
      : 'none',
  );
  if (s.loaded) {
    row('capture kernel', s.loadedBy ? `loaded: ${s.loadedBy.kernel} with ${s.loadedBy.initrd} (${s.loadedBy.syscall}, ${s.loadedBy.at})` : 'loaded (not by kdump-ts: which one is unknown)');
    if (s.loadedBy) row('command line', s.loadedBy.cmdline);
  } else {
    row('capture kernel', `not loaded (would load ${s.capture.kernel}${s.capture.kernelExists ? '' : ' — missing'} with ${s.capture.initrd}${s.capture.initrdExists ? '' : ' — missing'})`);
    row('command line', s.capture.cmdline);
  }
  const t = s.target;
  const where = t.device ? ` on ${t.device} (${t.fstype})` : '';
  const state = t.writable ? 'writable' : t.exists ? 'NOT writable' : (t.error ?? 'does not exist');
  row('dump target', `${t.dir}${where}, ${state}${t.freeBytes !== undefined ? `, ${formatSize(BigInt(t.freeBytes))} free` : ''}`);
  row('last dump', formatSavedDump(t.lastDump));
  const excluded = DUMP_LEVEL_WORDS.filter((_, i) => s.wouldSave.dumpLevel & (1 << i));
  row(
    'would save',
    `${formatSize(BigInt(s.wouldSave.ramBytes))} of RAM${excluded.length ? ` minus ${excluded.join(', ')}` : ''} (dump level ${s.wouldSave.dumpLevel}), ${s.wouldSave.format}${s.wouldSave.format === 'ELF' ? '' : ` ${s.wouldSave.compression}`}, to ${s.wouldSave.path}`,
  );
  const h = s.coreHeader;
  row(
    'core header',
    `${h.cpuNotes} CPU note${h.cpuNotes === 1 ? '' : 's'}, ${h.vmcoreinfo ? 'VMCOREINFO' : 'no VMCOREINFO'}, ${h.kernelText ? `kernel text ${hex(h.kernelText.vaddr)} (${formatSize(h.kernelText.size)} at ${hex(h.kernelText.paddr)})` : 'no kernel text'}, ${h.arch === 'arm64' ? 'linear map pa +' : 'direct map'} ${h.pageOffset !== undefined ? hex(h.pageOffset) : 'unknown'}`,
  );
  row('ready', s.ready ? 'yes' : 'no');
  for (const p of s.problems) lines.push(`  - ${p}`);
  return lines.join('\n') + '\n';
}

/** JSON with bigints as hex strings. */
export function statusJson(s: KdumpStatus): string {
  return JSON.stringify({ schema: JSON_SCHEMA, ...s }, (_k, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v), 2) + '\n';
}

/** The checks as aligned lines: "ok    name  detail", FAIL lines followed by what to do. */
export function formatChecks(checks: Check[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.result.padEnd(5)} ${c.name.padEnd(18)} ${c.detail}`);
    if (c.fix) lines.push(`${''.padEnd(25)}→ ${c.fix}`);
  }
  const failed = checks.filter((c) => c.result === 'FAIL').length;
  lines.push(failed ? `NOT READY: ${failed} check${failed > 1 ? 's' : ''} failed` : 'ready: a crash now would be captured');
  return lines.join('\n') + '\n';
}
