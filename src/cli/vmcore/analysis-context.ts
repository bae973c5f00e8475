// Opens DUMP for the BTF/ORC-based commands (bt, ps, struct, types, mem, summary, serve): the
// shared KernelDump (kallsyms, or --system-map / --vmlinux symbols, or kallsyms found in the kernel
// image for kernels before 6.0) plus, with --vmlinux, its .BTF.
import { Btf } from '../../analyze/btf.ts';
import { DumpContext } from '../../analyze/dump-context.ts';
import { withImageKallsyms } from '../../analyze/kallsyms-scan.ts';
import { openElf, sectionData } from '../../format/elf.ts';
import { FileSource } from '../../io/node-file.ts';
import { openKernelDump } from './kernel-dump-args.ts';

export function openContext(path: string, values: Record<string, string | boolean | undefined>): DumpContext {
  const kd = withImageKallsyms(openKernelDump(path, values));
  let btf: Btf | undefined;
  if (typeof values.vmlinux === 'string') {
    const elf = openElf(new FileSource(values.vmlinux));
    const sec = elf.section('.BTF');
    if (sec) btf = Btf.parse(sectionData(elf.source, sec), `${values.vmlinux} .BTF`);
  }
  return new DumpContext(kd, { btf });
}
