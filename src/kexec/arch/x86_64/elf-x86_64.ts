// x86_64 ELF vmlinux (the uncompressed kernel) through kexec_load: PT_LOAD segments at their
// physical addresses, a zero page built from scratch (a vmlinux has no setup header), command line,
// initrd, and our purgatory entering the kernel at e_entry with %rsi = boot_params.
import { KexecError, ParseError } from '../../../errors.ts';
import { BootParams, HDRS_MAGIC, BOOT_FLAG, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64 } from '../../../format/bzimage.ts';
import { EM_X86_64, ET_EXEC, PT_LOAD, isElf, openElf, segmentData } from '../../../format/elf.ts';
import { writeStruct } from '../../../format/struct.ts';
import { BufferSource } from '../../../io/source.ts';
import { PAGE_SIZE, alignDown, alignUp, type KexecLoader, type KexecPlan, type PlanInput } from '../../plan.ts';
import { hex } from '../../../text.ts';
import { newSetupBuffer } from './boot-params.ts';
import { checkCmdline, finishX86Plan, placeInitrdAndBootParams, startX86Plan } from './bzimage64.ts';
import { MIN_PURGATORY_ADDR, placePurgatory, purgatoryDebugLine } from './purgatory.ts';

/** COMMAND_LINE_SIZE - 1 on x86: what a vmlinux accepts (it has no header saying so). */
const VMLINUX_CMDLINE_SIZE = 2047;

function probe(image: Uint8Array): boolean {
  if (!isElf(image) || image.length < 64) return false;
  const dv = new DataView(image.buffer, image.byteOffset, 64);
  return image[4] === 2 && image[5] === 1 && dv.getUint16(16, true) === ET_EXEC && dv.getUint16(18, true) === EM_X86_64;
}

function plan(input: PlanInput): KexecPlan {
  if (!probe(input.image)) throw new ParseError('not an x86_64 ELF executable (vmlinux)', { source: input.imageName, offset: 0 });
  const elf = openElf(new BufferSource(input.image, input.imageName));
  const loads = elf.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0).sort((a, b) => (a.paddr < b.paddr ? -1 : 1));
  if (loads.length === 0) throw new ParseError('the ELF file has no PT_LOAD segments', { source: input.imageName });
  const c = startX86Plan(input);
  checkCmdline(c.cmdline, VMLINUX_CMDLINE_SIZE, 'the kernel (COMMAND_LINE_SIZE)');

  // One kexec segment per PT_LOAD, as kexec-tools makes them; PT_LOADs that share a page (their
  // page-rounded ranges overlap) are merged into one, which kexec_load requires.
  type Run = { start: bigint; end: bigint; parts: { at: bigint; data: Uint8Array }[] };
  const runs: Run[] = [];
  for (const p of loads) {
    const start = alignDown(p.paddr, PAGE_SIZE);
    const end = alignUp(p.paddr + BigInt(p.memsz), PAGE_SIZE);
    const last = runs[runs.length - 1];
    const part = { at: p.paddr, data: segmentData(elf.source, p) };
    if (last && start < last.end) {
      last.end = end > last.end ? end : last.end;
      last.parts.push(part);
    } else runs.push({ start, end, parts: [part] });
  }
  let kernelEnd = 0n;
  runs.forEach((r, i) => {
    const fileEnd = r.parts.reduce((m, p) => (p.at + BigInt(p.data.length) > m ? p.at + BigInt(p.data.length) : m), r.start);
    const buf = new Uint8Array(Number(fileEnd - r.start));
    for (const p of r.parts) buf.set(p.data, Number(p.at - r.start));
    c.alloc.add({ buf, mem: r.start, memsz: r.end - r.start, what: runs.length > 1 ? `kernel part ${i}` : 'kernel' });
    kernelEnd = r.end;
  });
  const inRam = runs.every((r) => c.usable.some((u) => r.start >= u.start && r.end - 1n <= u.end));
  if (!inRam) {
    throw new KexecError(`the vmlinux must be loaded at ${hex(runs[0]!.start)}-${hex(kernelEnd - 1n)}, which is not free usable memory${input.kind === 'crash' ? ' in the crash kernel region' : ''}`, {
      hint: 'load the bzImage instead (it is relocatable)',
    });
  }
  let entry = elf.header.entry;
  const text = loads.find((p) => entry >= p.vaddr && entry < p.vaddr + BigInt(p.memsz));
  if (text && text.vaddr !== text.paddr) entry = entry - text.vaddr + text.paddr;

  const purgatory = placePurgatory(c.alloc, input.purgatory);
  c.debug.push(purgatoryDebugLine(purgatory));
  const cmdlineOffset = 4096;
  const setupBuf = newSetupBuffer({ cmdlineOffset, cmdline: c.cmdline });
  writeStruct(BootParams, setupBuf, {
    boot_flag: BOOT_FLAG,
    header: HDRS_MAGIC,
    version: 0x020f,
    cmdline_size: VMLINUX_CMDLINE_SIZE,
    xloadflags: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
  });
  const setup = c.alloc.place({ buf: setupBuf, align: 16n, min: MIN_PURGATORY_ADDR, what: 'boot params + cmdline' });
  c.debug.push(`Loaded real_mode_data and command line at ${hex(setup.mem)}`);
  // No EFI handover: an ELF vmlinux has no setup header to say the kernel takes it (XLF_EFI_KEXEC);
  // the RNG seed and the ACPI RSDP (boot_params', else the EFI systab's) are passed.
  placeInitrdAndBootParams(input, c, setup, cmdlineOffset, false);
  return finishX86Plan(input, c, purgatory, {
    loader: 'x86_64 ELF vmlinux',
    kernelEntry: entry,
    bootParams: setup.mem,
    notes: [`vmlinux entry ${hex(entry)}, ${loads.length} PT_LOAD segment(s) in ${runs.length} kexec segment(s)`],
  });
}

export const elfX86_64Loader: KexecLoader = { name: 'elf-x86_64', arch: 'x86_64', probe, plan };
