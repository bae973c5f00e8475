// A crash signature: what makes two crashes "the same bug" across boots, hosts, KASLR offsets and
// kernel builds. It keeps the panic reason with its numbers and addresses masked, the names of the
// top frames of the panic CPU's backtrace (no offsets, no addresses, compiler suffixes such as
// `.cold` or `.isra.0` dropped; the panic/oops machinery above them skipped) and the module of the
// top frame. The bucket is a hash of those three; the kernel release travels beside it (the same
// bug on two kernels is one bucket seen on two kernels).
import { sha256 } from '../sha256.ts';
import type { LogRecord } from './printk.ts';
import type { Frame } from './arch/x86_64/unwind.ts';

export interface CrashSignature {
  /** 16 hex digits: sha256 of reason, frames and module. */
  bucket: string;
  /** The panic reason (the oops line when the panic is "Fatal exception"), numbers masked. */
  reason: string;
  /** Up to SIGNATURE_FRAMES function names, innermost first; "?" for code with no symbol. */
  frames: string[];
  /** The module of the top frame, when it is not the kernel image. */
  module?: string;
  /** That module's build ID, when the kernel printed it in the log (CONFIG_STACKTRACE_BUILD_ID). */
  moduleBuildId?: string;
  release?: string;
}

export const SIGNATURE_FRAMES = 5;

/** Functions that report a crash rather than cause it: skipped at the top of the backtrace. */
const MACHINERY = new Set([
  // kdump and panic
  'crash_kexec', '__crash_kexec', 'machine_crash_shutdown', 'native_machine_crash_shutdown', 'crash_save_cpu',
  'panic', 'vpanic', 'nmi_panic', 'dump_stack', 'dump_stack_lvl', 'show_stack', 'check_panic_on_warn',
  // x86 oops, BUG(), WARN()
  'oops_end', 'die', '__die', 'die_addr', 'do_trap', 'do_error_trap', 'page_fault_oops', 'kernelmode_fixup_or_oops',
  'no_context', '__bad_area_nosemaphore', 'bad_area_nosemaphore', 'do_user_addr_fault', 'do_kern_addr_fault',
  'handle_page_fault', 'handle_bug', 'report_bug', '__warn', 'warn_slowpath_fmt', 'do_int3', 'do_int3_user',
  // arm64
  '__do_kernel_fault', 'do_mem_abort', 'do_translation_fault', 'do_page_fault', 'el1_abort', 'el1_dbg',
  'el1h_64_sync_handler', 'el1h_64_sync', 'bug_handler', 'call_break_hook', 'brk_handler', 'do_debug_exception',
  'arm64_notify_die', 'bug_brk_handler',
]);

/** A function name without the compiler's clone suffixes (`foo.isra.0`, `foo.cold`, `foo.constprop.0.cold`). */
export function baseFunctionName(name: string): string {
  return name.replace(/\.(?:cold|isra|constprop|part|llvm|lto_priv|localalias)(?:\.\d+)*/g, '');
}

function isMachinery(name: string): boolean {
  return MACHINERY.has(name) || /^(?:asm_)?exc_/.test(name);
}

/** The frames that describe the crash: leading machinery dropped, up to and including its exception boundary. */
export function signatureFrames(frames: readonly Frame[], count = SIGNATURE_FRAMES): { names: string[]; module?: string } {
  let i = 0;
  while (i < frames.length) {
    const name = frames[i]!.symbol?.name;
    if (name === undefined || !isMachinery(baseFunctionName(name))) break;
    i++;
    // An exception boundary after machinery: the frames below it are where the fault happened.
    if (frames[i - 1]!.regs) break;
  }
  const kept = frames.slice(i, i + count);
  return { names: kept.map((f) => (f.symbol ? baseFunctionName(f.symbol.name) : '?')), module: kept[0]?.symbol?.module };
}

const OOPS_LINE = /^(BUG: |Oops|general protection fault|kernel BUG at|Unable to handle kernel|Internal error:|WARNING: )/;

/** Addresses and numbers masked, so the same message from two boots or builds reads the same. */
export function normaliseReason(line: string): string {
  return line
    .replace(/^Kernel panic - not syncing: /, '')
    .replace(/0x[0-9a-f]+/gi, '<hex>')
    .replace(/\b[0-9a-f]{8,}\b/gi, '<hex>')
    .replace(/\b\d+\b/g, '<n>')
    .trim();
}

const text = (r: LogRecord) => new TextDecoder().decode(r.text).split('\n')[0]!.trim();

/** The line that says why: the panic message, or the oops report's first line when the panic only says "Fatal exception". */
export function crashReasonLine(records: readonly LogRecord[], panicMessage: string | undefined): string | undefined {
  if (panicMessage !== undefined && !/^Kernel panic - not syncing: Fatal exception/.test(panicMessage) && !OOPS_LINE.test(panicMessage)) return panicMessage;
  for (let i = records.length - 1; i >= 0; i--) {
    const line = text(records[i]!);
    if (OOPS_LINE.test(line)) return line;
  }
  return panicMessage;
}

function moduleBuildId(records: readonly LogRecord[], module: string): string | undefined {
  const re = new RegExp(`\\[${module.replace(/[^\w]/g, '\\$&')} ([0-9a-f]{40})\\]`);
  for (let i = records.length - 1; i >= 0; i--) {
    const m = re.exec(text(records[i]!));
    if (m) return m[1];
  }
  return undefined;
}

export interface SignatureInput {
  records: readonly LogRecord[];
  panicMessage: string | undefined;
  frames: readonly Frame[] | undefined;
  release: string | undefined;
}

export function crashSignature(input: SignatureInput): CrashSignature {
  const line = crashReasonLine(input.records, input.panicMessage);
  const reason = line !== undefined ? normaliseReason(line) : 'no panic message in the log';
  const { names, module } = signatureFrames(input.frames ?? []);
  const key = JSON.stringify({ reason, frames: names, module: module ?? null });
  const digest = sha256(new TextEncoder().encode(key));
  const bucket = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
  const sig: CrashSignature = { bucket, reason, frames: names };
  if (module !== undefined) {
    sig.module = module;
    const id = moduleBuildId(input.records, module);
    if (id) sig.moduleBuildId = id;
  }
  if (input.release !== undefined) sig.release = input.release;
  return sig;
}

/** One line for the summary: `BUCKET  reason  @ f1 < f2 < ... [module]`. */
export function formatSignature(s: CrashSignature): string {
  return `${s.bucket}  ${s.reason}  @ ${s.frames.join(' < ') || '(no frames)'}${s.module ? `  [${s.module}${s.moduleBuildId ? ' ' + s.moduleBuildId : ''}]` : ''}`;
}
