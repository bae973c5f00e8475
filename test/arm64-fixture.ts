// Reads fixtures/arm64/guest-probe.txt (recorded by fixtures/arm64/record.sh): sections that start
// with "=== TITLE" lines.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const probeUrl = new URL('../fixtures/arm64/guest-probe.txt', import.meta.url);

export function probeSection(titlePrefix: string): string {
  const text = readFileSync(probeUrl, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('=== ' + titlePrefix));
  if (start < 0) throw new Error(`guest-probe.txt has no section "${titlePrefix}"`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('=== '));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The DTB the recorded guest received (/sys/firmware/fdt). */
export function recordedFdt(): Uint8Array {
  return new Uint8Array(gunzipSync(Buffer.from(probeSection('/sys/firmware/fdt').replace(/\s+/g, ''), 'base64')));
}

export function recordedIomem(): string {
  return probeSection('/proc/iomem') + '\n';
}

/** The first 4 KiB of the recorded Image, and the whole file's size (from the probe's header). */
export function recordedImageHeader(): { head: Uint8Array; size: number } {
  const head = new Uint8Array(readFileSync(new URL('../fixtures/arm64/Image-header.bin', import.meta.url)));
  const m = /# Image size: (\d+) bytes/.exec(readFileSync(probeUrl, 'utf8'));
  if (!m) throw new Error('guest-probe.txt does not record the Image size');
  return { head, size: Number(m[1]) };
}

/** `kexec -d` segment lines of a recorded section: entry, flags and (mem, memsz, bufsz) per segment. */
export function kexecToolsSegments(titlePrefix: string): { entry: bigint; flags: bigint; segments: { mem: bigint; memsz: bigint; bufsz: bigint }[] } {
  const text = probeSection(titlePrefix);
  const head = /kexec_load: entry = (0x[0-9a-f]+) flags = (0x[0-9a-f]+)/.exec(text);
  if (!head) throw new Error(`no kexec_load line in "${titlePrefix}"`);
  const segs = new Map<number, { mem: bigint; memsz: bigint; bufsz: bigint }>();
  for (const m of text.matchAll(/segment\[(\d+)\]\.(bufsz|mem|memsz)\s*= (0x[0-9a-f]+)/g)) {
    const s = segs.get(Number(m[1])) ?? { mem: 0n, memsz: 0n, bufsz: 0n };
    s[m[2] as 'bufsz' | 'mem' | 'memsz'] = BigInt(m[3]!);
    segs.set(Number(m[1]), s);
  }
  return { entry: BigInt(head[1]!), flags: BigInt(head[2]!), segments: [...segs.values()] };
}

/** The purgatory object: dist/purgatory-arm64.o when built, else assembled now with llvm-mc; undefined without either. */
export function arm64PurgatoryObject(): Uint8Array | undefined {
  const built = new URL('../dist/purgatory-arm64.o', import.meta.url);
  if (existsSync(built)) return new Uint8Array(readFileSync(built));
  const dir = mkdtempSync(join(tmpdir(), 'arm64-purg-'));
  const r = spawnSync('llvm-mc', ['-triple=aarch64-linux-gnu', '-filetype=obj', '-o', join(dir, 'p.o'), new URL('../purgatory/arm64/purgatory.S', import.meta.url).pathname]);
  return r.status === 0 ? new Uint8Array(readFileSync(join(dir, 'p.o'))) : undefined;
}

/** The recorded Image: its real first 4 KiB, zeros up to the real file size. */
export function recordedImage(): Uint8Array {
  const { head, size } = recordedImageHeader();
  const image = new Uint8Array(size);
  image.set(head);
  return image;
}

export interface CrashPlanLines {
  /** the "Reserved memory range" and "Coredump memory ranges" blocks (title and range lines) */
  reserved: string[];
  coredump: string[];
  /** the core header's program header lines: CPU notes, VMCOREINFO, kernel text, RAM */
  notes: string[];
  vmcoreinfo: string[];
  text: string[];
  ram: string[];
  /** image_arm64_load's kernel_segment, text_offset, image_size and PE format lines */
  image: string[];
  initrd: string[];
  elfcorehdr: { start: bigint; end: bigint } | undefined;
  dtb: { base: bigint; size: number } | undefined;
  entry: bigint | undefined;
  flags: bigint | undefined;
  segments: { mem: bigint; memsz: bigint; bufsz: bigint }[];
}

/**
 * The lines an arm64 crash load prints with -d that `kexec-ts -p -d` and kexec-tools' `kexec -p -d`
 * have in common (kexec-ts prints them in kexec-tools' format), picked from either output.
 */
export function crashPlanLines(output: string): CrashPlanLines {
  const lines = output.replace(/\r/g, '').split('\n');
  const pick = (re: RegExp) => lines.filter((l) => re.test(l));
  const block = (title: string) => {
    const at = lines.indexOf(title);
    if (at < 0) return [];
    let end = at + 1;
    while (end < lines.length && /^[0-9a-f]{16}-[0-9a-f]{16} \(\d\)$/.test(lines[end]!)) end++;
    return lines.slice(at, end);
  };
  const hdr = /^load_crashdump_segments: elfcorehdr (0x[0-9a-f]+)-(0x[0-9a-f]+)$/m.exec(output);
  const dtb = /^dtb: +base ([0-9a-f]+), size ([0-9a-f]+)h/m.exec(output);
  const load = /^kexec_load: entry = (0x[0-9a-f]+) flags = (0x[0-9a-f]+)/m.exec(output);
  const segs = new Map<number, { mem: bigint; memsz: bigint; bufsz: bigint }>();
  for (const m of output.matchAll(/^segment\[(\d+)\]\.(bufsz|mem|memsz)\s*= (0x[0-9a-f]+)/gm)) {
    const s = segs.get(Number(m[1])) ?? { mem: 0n, memsz: 0n, bufsz: 0n };
    s[m[2] as 'bufsz' | 'mem' | 'memsz'] = BigInt(m[3]!);
    segs.set(Number(m[1]), s);
  }
  return {
    reserved: block('Reserved memory range'),
    coredump: block('Coredump memory ranges'),
    notes: pick(/^Elf header: p_type = 4,/),
    vmcoreinfo: pick(/^vmcoreinfo header: /),
    text: pick(/^Kernel text Elf header: /),
    ram: pick(/^Elf header: p_type = 1,/),
    image: pick(/^image_arm64_load: (kernel_segment|text_offset|image_size|PE format):/),
    initrd: pick(/^initrd: +base /),
    elfcorehdr: hdr ? { start: BigInt(hdr[1]!), end: BigInt(hdr[2]!) } : undefined,
    dtb: dtb ? { base: BigInt('0x' + dtb[1]), size: parseInt(dtb[2]!, 16) } : undefined,
    entry: load ? BigInt(load[1]!) : undefined,
    flags: load ? BigInt(load[2]!) : undefined,
    segments: [...segs.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s),
  };
}

/**
 * Asserts that our crash load plan (`kexec-ts -p -d`, -d --dry-run) of an arm64 machine is kexec-tools'
 * (`kexec -p -d`) for the same Image, initrd, command line and facts: the crash region and dump
 * ranges, every core header program header (CPU notes, VMCOREINFO, kernel text, RAM with its
 * linear-map p_vaddr), the Image placement, the initrd, the kexec_load flags, and each segment's
 * address, in the same order (kernel, initrd, DTB, purgatory, ELF core header). Returns the
 * differences that remain, each with its reason (they are asserted to be only these).
 */
export function assertCrashPlanIsKexecTools(ours: string, theirs: string, equal: (a: unknown, b: unknown, what: string) => void): string[] {
  const o = crashPlanLines(ours);
  const t = crashPlanLines(theirs);
  for (const k of ['reserved', 'coredump', 'notes', 'vmcoreinfo', 'text', 'ram', 'image', 'initrd'] as const) {
    equal(o[k].length > 0, true, `${k}: kexec-ts printed such lines`);
    equal(o[k], t[k], `${k} lines`);
  }
  equal(o.flags, t.flags, 'kexec_load flags');
  equal(o.segments.length, 5, 'five segments: kernel, initrd, DTB, purgatory, ELF core header');
  equal(o.segments.map((s) => s.mem), t.segments.map((s) => s.mem), 'segment addresses');
  equal([0, 1, 2, 4].map((i) => o.segments[i]!.memsz), [0, 1, 2, 4].map((i) => t.segments[i]!.memsz), 'segment sizes in memory (but the purgatory\'s)');
  equal([0, 1].map((i) => o.segments[i]!.bufsz), [0, 1].map((i) => t.segments[i]!.bufsz), 'kernel and initrd bytes');
  equal(o.elfcorehdr?.start, t.elfcorehdr?.start, 'the ELF core header\'s address');
  equal(o.dtb?.base, t.dtb?.base, 'the DTB\'s address');
  const [oh, th] = [o.segments[4]!, t.segments[4]!];
  equal([o.elfcorehdr!.end - o.elfcorehdr!.start + 1n, t.elfcorehdr!.end - t.elfcorehdr!.start + 1n], [oh.bufsz, th.bufsz], 'the elfcorehdr line spans the header segment\'s bytes');
  const hex = (n: bigint | number) => `0x${n.toString(16)}`;
  return [
    `ELF core header: ${hex(oh.bufsz)} bytes (its ELF header and ${o.notes.length + o.vmcoreinfo.length + o.text.length + o.ram.length} program headers) vs kexec-tools' ${hex(th.bufsz)} (its buffer is larger than the program headers it writes); the same address and program headers`,
    `DTB: ${o.dtb!.size} vs ${t.dtb!.size} bytes at the same address (both from /sys/firmware/fdt with bootargs, the initrd, linux,elfcorehdr and linux,usable-memory-range; ours also puts a fresh 128-byte rng-seed beside kaslr-seed; kexec-tools' -d does not print its DTB, so only the sizes are compared)`,
    `purgatory: ours ${hex(o.segments[3]!.bufsz)} bytes entered at its start (${hex(o.entry!)}), kexec-tools' ${hex(t.segments[3]!.bufsz)} bytes (memsz ${hex(t.segments[3]!.memsz)}) entered at ${hex(t.entry!)}: different programs at the same address`,
  ];
}
