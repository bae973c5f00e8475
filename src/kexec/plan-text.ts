// Printing a plan: a table for people (--dry-run), kexec-tools' `-d` lines (to diff against
// `kexec -d`), and JSON (--json). Pure.
import { KEXEC_RANGE_CODE, type MemoryRange } from './memory-map.ts';
import { type KexecPlan } from './plan.ts';
import { hex, hexPadded } from '../text.ts';


export function formatPlan(plan: KexecPlan): string[] {
  const entry = plan.syscall === 'kexec_load' ? `entry ${hex(plan.entry)}, ` : '';
  const out = [`${plan.loader} via ${plan.syscall}${plan.kind === 'crash' ? ' (crash kernel)' : ''}: ${entry}flags ${hex(plan.flags)}`];
  if (plan.syscall === 'kexec_file_load') {
    const f = plan.files;
    out.push(`  kernel ${f?.kernel} (${f?.kernelSize} bytes)${f?.initrd ? `, initrd ${f.initrd} (${f.initrdSize} bytes)` : ', no initrd'}; the kernel places the segments`);
  } else {
    out.push('  #   mem                                  memsz       bufsz       what');
    plan.segments.forEach((s, i) => {
      const range = `${hex(s.mem)}-${hex(s.mem + s.memsz - 1n)}`;
      out.push(`  ${String(i).padEnd(3)} ${range.padEnd(36)} ${hex(s.memsz).padEnd(11)} ${hex(s.buf.length).padEnd(11)} ${s.what}`);
    });
  }
  out.push(`  command line: ${JSON.stringify(plan.cmdline)}`);
  for (const n of plan.notes) out.push(`  note: ${n}`);
  return out;
}

/** The lines `kexec -d` prints for a kexec_load, in its formats. */
export function kexecDebugLines(plan: KexecPlan, ranges: MemoryRange[], kernelSize: number): string[] {
  const out = [`kernel: 0x0 kernel_size: ${hex(kernelSize)}`, 'MEMORY RANGES'];
  for (const r of ranges) out.push(`${hexPadded(r.start)}-${hexPadded(r.end)} (${KEXEC_RANGE_CODE[r.type]})`);
  out.push(...plan.debug);
  out.push(`kexec_load: entry = ${hex(plan.entry)} flags = ${hex(plan.flags)}`, `nr_segments = ${plan.segments.length}`);
  plan.segments.forEach((s, i) => {
    out.push(`segment[${i}].buf   = ${s.buf.length ? '0x0' : '(nil)'}`, `segment[${i}].bufsz = ${hex(s.buf.length)}`, `segment[${i}].mem   = ${hex(s.mem)}`, `segment[${i}].memsz = ${hex(s.memsz)}`);
  });
  return out;
}

/** A JSON-able view of the plan (addresses as hex strings, buffers as sizes). */
export function planToJson(plan: KexecPlan): unknown {
  return {
    arch: plan.arch,
    kind: plan.kind,
    syscall: plan.syscall,
    loader: plan.loader,
    entry: hex(plan.entry),
    flags: hex(plan.flags),
    cmdline: plan.cmdline,
    segments: plan.segments.map((s) => ({ what: s.what, mem: hex(s.mem), memsz: hex(s.memsz), bufsz: hex(s.buf.length) })),
    ...(plan.files ? { files: plan.files } : {}),
    ...(plan.sha256Regions ? { sha256Regions: plan.sha256Regions.map((r) => ({ start: hex(r.start), len: hex(r.len) })) } : {}),
    notes: plan.notes,
  };
}
