// The one guest failure the harness retries: sid's 7.2 kernel sometimes dies early in boot under
// QEMU's TCG with an int3 oops in kernel code, e.g. `Oops: int3: 0000 [#1] SMP NOPTI` then
// `RIP: 0010:enqueue_task_fair+0x...`. The kernel patches its own text at boot (alternatives, static
// keys and calls) by writing an int3 over the first byte of an instruction, then the rest, then the
// first byte; a CPU that meets the int3 meanwhile is sent on by poke_int3_handler. TCG can still run
// a translation of the int3 after the patch has finished, when no patch is in progress: exc_int3 finds
// no owner (no kprobe, no debugger in these guests) and dies with "int3". The same kernel boots on
// the next try. Any other failure, and an int3 oops after that kernel's /init has started, is a real
// failure and is not retried.

export interface BootOops {
  /** the release in the dying kernel's "Linux version" banner, when the console has it */
  release?: string;
  /** the oops line, e.g. "Oops: int3: 0000 [#1] SMP NOPTI" */
  oops: string;
  /** where the int3 was met, e.g. "enqueue_task_fair+0x1a/0x5c0" */
  rip: string;
}

const BANNER_RE = /\bLinux version (\S+)/;
// die("int3") on x86: "Oops: " since 6.9 (before: "int3: 0000 [#1] ..."), error code 0, first oops of the boot.
const INT3_OOPS_RE = /\b(?:Oops: )?int3: [0-9a-f]{4} \[#1\].*$/;
// A kernel-mode RIP (code segment 0x10) in a named function.
const KERNEL_RIP_RE = /\bRIP: 0010:([A-Za-z_][\w.]*\+0x[0-9a-f]+\/0x[0-9a-f]+)/;

/**
 * The known TCG text-patching oops, when it is what ended `consoleText`: the last kernel the console
 * shows (from its last "Linux version" banner) died with an int3 oops in kernel code before its /init
 * printed a marker. Undefined for anything else.
 */
export function tcgTextPatchOops(consoleText: string): BootOops | undefined {
  const lines = consoleText.replace(/\r/g, '').split('\n');
  let start = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (BANNER_RE.test(lines[i]!)) {
      start = i;
      break;
    }
  }
  const boot = lines.slice(start);
  const at = boot.findIndex((l) => INT3_OOPS_RE.test(l));
  if (at < 0) return undefined;
  if (boot.slice(0, at).some((l) => l.includes('E2E-MARK '))) return undefined; // /init had started
  // The register dump follows the oops within a few lines ("CPU:", "Hardware name:", "RIP:").
  const rip = boot.slice(at + 1, at + 8).map((l) => KERNEL_RIP_RE.exec(l)).find((m) => m);
  if (!rip) return undefined;
  return { release: BANNER_RE.exec(boot[0]!)?.[1], oops: INT3_OOPS_RE.exec(boot[at]!)![0], rip: rip[1]! };
}
