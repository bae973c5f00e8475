// The capture kernel's default command line: the running kernel's (so console=, root= and the
// like carry over) minus what must not reach a capture kernel, plus what a capture kernel needs.
// The loader then appends `elfcorehdr=` (and `acpi_rsdp=`) itself (crash-load.ts).
//
// Removed (what Debian's kdump-tools and Fedora's kdumpctl strip, plus what clashes with the
// restricted memory map):
//   crashkernel=       reserves memory again inside the small capture kernel
//   BOOT_IMAGE= initrd=  bootloader leftovers
//   elfcorehdr=        the loader adds the right one
//   mem= memmap=       describe the first kernel's memory; they would override the capture e820
//   hugepages= hugepagesz= default_hugepagesz= hugetlb_cma= cma=   reserve memory the capture kernel lacks
//   nr_cpus= maxcpus= irqpoll reset_devices panic=   replaced by the additions below
//   quiet slub_debug log_buf_len= swiotlb=   (kdumpctl) noise or memory
//   resume= kexec_jump_back_entry=   not for a capture kernel
//   rdinit= init=      the capture initramfs runs its own /init
// Added:
//   irqpoll nr_cpus=1 reset_devices   recover devices left mid-operation by the crash, one CPU
//   panic=10                          if the capture kernel panics, reboot instead of hanging
//   cgroup_disable=memory             saves the memory cgroup's per-page bookkeeping (as kdumpctl)
import { splitCmdline } from './crashkernel.ts';

export const CAPTURE_CMDLINE_REMOVE = [
  'crashkernel',
  'BOOT_IMAGE',
  'initrd',
  'elfcorehdr',
  'mem',
  'memmap',
  'hugepages',
  'hugepagesz',
  'default_hugepagesz',
  'hugetlb_cma',
  'cma',
  'nr_cpus',
  'maxcpus',
  'irqpoll',
  'reset_devices',
  'panic',
  'quiet',
  'slub_debug',
  'log_buf_len',
  'swiotlb',
  'resume',
  'kexec_jump_back_entry',
  'rdinit',
  'init',
];

export const CAPTURE_CMDLINE_ADD = ['irqpoll', 'nr_cpus=1', 'reset_devices', 'panic=10', 'cgroup_disable=memory'];

export interface CaptureCmdline {
  cmdline: string;
  /** Words taken out of the running command line. */
  removed: string[];
  /** Words added. */
  added: string[];
}

/** The parameter name of a word: "console=ttyS0" → "console", "quiet" → "quiet". */
export function paramName(word: string): string {
  const eq = word.indexOf('=');
  return eq < 0 ? word : word.slice(0, eq);
}

/** The value of the last `name=` parameter for the kernel (before a bare "--"), quotes removed; undefined when absent. */
export function cmdlineParam(cmdline: string, name: string): string | undefined {
  const words = splitCmdline(cmdline);
  const dashdash = words.indexOf('--');
  let value: string | undefined;
  for (const w of dashdash < 0 ? words : words.slice(0, dashdash)) {
    if (w.startsWith(`${name}=`)) value = w.slice(name.length + 1).replace(/"/g, '');
  }
  return value;
}

/**
 * Builds the capture command line from the running one. `remove` names more parameters to drop,
 * `append` is added at the end; a parameter it names replaces our addition of the same name
 * (e.g. `nr_cpus=2`).
 */
export function captureCmdline(running: string, opts: { remove?: string[]; append?: string } = {}): CaptureCmdline {
  const drop = new Set([...CAPTURE_CMDLINE_REMOVE, ...(opts.remove ?? [])]);
  const removed: string[] = [];
  const kept: string[] = [];
  // Words after a bare "--" go to init, not the kernel: keep them last, untouched.
  const words = splitCmdline(running);
  const dashdash = words.indexOf('--');
  const kernelWords = dashdash < 0 ? words : words.slice(0, dashdash);
  const initWords = dashdash < 0 ? [] : words.slice(dashdash);
  for (const w of kernelWords) (drop.has(paramName(w)) ? removed : kept).push(w);
  const user = splitCmdline(opts.append ?? '');
  const userNames = new Set(user.map(paramName));
  const added = CAPTURE_CMDLINE_ADD.filter((w) => !userNames.has(paramName(w)));
  const cmdline = [...kept, ...added, ...user, ...initWords].join(' ');
  return { cmdline, removed, added };
}
