// The arm64 row of the architecture table (src/analyze/arch/arch.ts): the layout (layout.ts) read
// with this dump's VMCOREINFO (VA_BITS, TCR_EL1_T1SZ, kimage_voffset, PHYS_OFFSET, KERNELOFFSET), the
// 4 KiB-granule page walk of swapper_pg_dir (paging.ts: 48-bit, and 52-bit with LPA2), NT_PRSTATUS
// registers (prstatus.ts) and the frame-record unwinder (unwind.ts).
import { EM_AARCH64 } from '../../../format/elf.ts';
import { NotInDumpError, ParseError } from '../../../errors.ts';
import { hexPadded } from '../../../text.ts';
import { missingKey, type VmcoreInfo } from '../../vmcoreinfo.ts';
import type { KernelDump } from '../../kernel-dump.ts';
import type { ArchRegs, Backtrace, KernelArch } from '../arch.ts';
import { ARM64_KERNEL_SPACE, ARM64_KIMAGE_VADDR, ARM64_PAGE_END, ARM64_VMALLOC_CEILING, arm64PageOffset } from './layout.ts';
import { Arm64PageTables } from './paging.ts';
import { arm64Prstatus } from './prstatus.ts';
import { isUserPstate, type Arm64Regs } from './regs.ts';
import { stripPac, unwindArm64, type Arm64UnwindContext } from './unwind.ts';

const MASK64 = (1n << 64n) - 1n;

function need(info: VmcoreInfo, name: string, forWhat: string): bigint {
  const v = info.number(name);
  if (v === undefined) throw missingKey(`NUMBER(${name})`, forWhat);
  return v;
}

/** Virtual address bits in use: 64 - TCR_EL1.T1SZ (5.x+ VMCOREINFO), else the kernel's VA_BITS. */
export function arm64VaBits(info: VmcoreInfo): number {
  const t1sz = info.number('TCR_EL1_T1SZ');
  if (t1sz !== undefined) return 64 - Number(t1sz);
  return Number(need(info, 'VA_BITS', 'arm64 kernel page-table walks'));
}

function checkGranule(info: VmcoreInfo): void {
  const ps = info.pageSize;
  if (ps !== undefined && ps !== 4096) {
    throw new ParseError(`arm64 kernel with ${ps / 1024} KiB pages: analysis reads the 4 KiB granule only (Debian's kernels)`);
  }
}

function formatRegs(r: ArchRegs, indent: string): string[] {
  const v = (n: string) => r[n] ?? 0n;
  const cell = (n: string) => `${n.toUpperCase().padStart(3)}: ${hexPadded(v(n))}`;
  const lines = [
    `${indent} PC: ${hexPadded(v('pc'))}   LR: ${hexPadded(v('x30'))}   SP: ${hexPadded(v('sp'))}  PSTATE: ${hexPadded(v('pstate'), 8)}`,
  ];
  for (let i = 29; i >= 0; i -= 3) {
    lines.push(indent + [i, i - 1, i - 2].filter((n) => n >= 0).map((n) => cell(`x${n}`)).join('  '));
  }
  return lines;
}

function unwindContext(kd: KernelDump): Arm64UnwindContext {
  let stackframe: number | undefined;
  try {
    void kd.btf; // read first: offsetOf asks it
    stackframe = kd.offsetOf('pt_regs', 'stackframe');
  } catch (e) {
    if (!(e instanceof ParseError || e instanceof NotInDumpError)) throw e;
  }
  return { mem: kd.memory, sym: kd.symbolizer, pacMask: kd.info.number('KERNELPACMASK') ?? 0n, ptRegsStackframe: stackframe };
}

export const arm64: KernelArch = {
  name: 'aarch64',
  pcName: 'PC',
  elfMachine: EM_AARCH64,
  kernelMap: ARM64_PAGE_END,
  kernelText: ARM64_KIMAGE_VADDR,
  kernelSpace: ARM64_KERNEL_SPACE,
  moduleArea: [ARM64_PAGE_END, ARM64_VMALLOC_CEILING],
  directMapRange: (levels) => [levels >= 5 ? arm64PageOffset(52) : arm64PageOffset(48), ARM64_PAGE_END],
  currentTaskSymbols: ['__entry_task'],
  imageLayout(info) {
    checkGranule(info);
    const forWhat = 'arm64 kernel virtual addresses';
    const kimageVoffset = need(info, 'kimage_voffset', forWhat) & MASK64;
    const physOffset = need(info, 'PHYS_OFFSET', forWhat) & MASK64;
    const vaBits = Number(need(info, 'VA_BITS', forWhat));
    return {
      physBase: physOffset,
      imageToPhys: (vaddr) => (vaddr - kimageVoffset) & MASK64,
      // __lm_to_phys(): pa = va - PAGE_OFFSET + PHYS_OFFSET, PAGE_OFFSET from the kernel's VA_BITS.
      directMapBase: (arm64PageOffset(vaBits) - physOffset) & MASK64,
    };
  },
  pageTables(phys, info, imageToPhys) {
    checkGranule(info);
    const root = info.symbol('swapper_pg_dir');
    if (root === undefined) throw missingKey('SYMBOL(swapper_pg_dir)', 'kernel page-table walks');
    const vaBits = arm64VaBits(info);
    // 52-bit virtual addresses with 4 KiB pages exist only with FEAT_LPA2 (TCR_EL1.DS = 1).
    return new Arm64PageTables(phys, imageToPhys(root), vaBits, vaBits > 48);
  },
  cpus: arm64Prstatus,
  formatRegs,
  isUserMode: (r) => isUserPstate(r.pstate ?? 0n),
  unwindCpu(kd, cpu) {
    const regs = cpu.regs as Arm64Regs;
    const backtrace: Backtrace = isUserPstate(regs.pstate)
      ? { frames: [], stop: 'user mode', error: false, userRegs: regs }
      : unwindArm64(unwindContext(kd), { pc: regs.pc, sp: regs.sp, fp: regs.x29, lr: regs.x30, regs });
    return { backtrace, start: regs };
  },
  unwindTask(kd, threadSp, task) {
    // cpu_switch_to() saved x19–x28, fp, sp and the return address in thread.cpu_context.
    const ctx = unwindContext(kd);
    const off = task === undefined ? undefined : kd.offsetOf('task_struct', 'thread.cpu_context');
    if (task === undefined || off === undefined) return { frames: [], stop: 'no thread.cpu_context (BTF) for a task that was not running', error: true };
    try {
      const b = kd.memory.readVirt(task + BigInt(off), 13 * 8);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const fp = dv.getBigUint64(10 * 8, true);
      const sp = dv.getBigUint64(11 * 8, true);
      const pc = stripPac(dv.getBigUint64(12 * 8, true), ctx.pacMask);
      void threadSp;
      return unwindArm64(ctx, { pc, sp, fp });
    } catch (e) {
      if (e instanceof NotInDumpError) return { frames: [], stop: `saved context not in dump: ${e.message}`, error: true, notInDump: e.reason };
      throw e;
    }
  },
};
