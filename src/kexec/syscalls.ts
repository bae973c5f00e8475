// What the kexec library asks of the kernel (kexec_load, kexec_file_load, reboot, sync) as an
// interface, with the syscall numbers and what each errno usually means (SyscallError's hint).
// Pure: the real calls through koffi are src/host/syscalls.ts; tests pass a recording fake.
import { KexecError } from '../errors.ts';
import type { KexecSegment } from './plan.ts';

/** x86_64 and arm64 (asm-generic) syscall numbers. */
export const SYSCALLS = {
  x64: { kexec_load: 246, kexec_file_load: 320, reboot: 169 },
  arm64: { kexec_load: 104, kexec_file_load: 294, reboot: 142 },
} as const;

export const LINUX_REBOOT_MAGIC1 = 0xfee1dead;
export const LINUX_REBOOT_MAGIC2 = 672274793;
export const LINUX_REBOOT_CMD_KEXEC = 0x45584543;

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ENOEXEC: 8,
  EBADF: 9,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ENOSYS: 38,
  EBADMSG: 74,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99,
  ENOKEY: 126,
  EKEYREJECTED: 129,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(ERRNO).map(([k, v]) => [v, k]));

const MESSAGES: Record<number, string> = {
  1: 'Operation not permitted',
  8: 'Exec format error',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  16: 'Device or resource busy',
  22: 'Invalid argument',
  38: 'Function not implemented',
  74: 'Bad message',
  95: 'Operation not supported',
  99: 'Cannot assign requested address',
  126: 'Required key not available',
  129: 'Key was rejected by service',
};

/** What an errno from a kexec call usually means, for the one-line error. */
export function errnoHint(call: 'kexec_load' | 'kexec_file_load' | 'reboot' | 'unload', errno: number): string {
  switch (errno) {
    case ERRNO.EPERM:
      return call === 'kexec_load'
        ? 'not root (CAP_SYS_BOOT), kexec_load_disabled=1, or kernel lockdown / Secure Boot forbids unsigned kexec_load: try -s (kexec_file_load) with a signed kernel'
        : 'not root (CAP_SYS_BOOT), kernel.kexec_load_disabled=1 or a kexec_load_limit sysctl at 0';
    case ERRNO.EACCES:
      return 'an LSM/IMA policy refused it (IMA cannot appraise kexec_load: use -s, kexec_file_load)';
    case ERRNO.EKEYREJECTED:
    case ERRNO.ENOKEY:
    case ERRNO.EBADMSG:
      return 'the kernel image is not signed by a trusted key (Secure Boot / KEXEC_SIG_FORCE): use a signed kernel, or -c (kexec_load) if lockdown allows it';
    case ERRNO.EADDRNOTAVAIL:
      return 'a segment or the entry lies outside usable memory or outside the crash kernel region: crashkernel= too small for this kernel and initrd?';
    case ERRNO.EBUSY:
      return 'another kexec load or exec is in progress';
    case ERRNO.ENOSYS:
      return 'this kernel has no kexec support (CONFIG_KEXEC / CONFIG_KEXEC_FILE not set)';
    case ERRNO.ENOEXEC:
      return 'the kernel does not recognise this image format for kexec_file_load: try -c (kexec_load)';
    case ERRNO.ENOMEM:
      return 'the kernel could not allocate memory for the segments';
    case ERRNO.EOPNOTSUPP:
      return 'the kernel refuses kexec in this state (e.g. confidential VM, unaccepted memory)';
    case ERRNO.EINVAL:
      return call === 'reboot'
        ? 'no kexec image is loaded'
        : call === 'kexec_file_load'
          ? 'the kernel rejected the image or command line (too long? unknown flag?)'
          : 'the kernel rejected the segment list: overlapping segments, more than 16, larger than half of RAM, or flags this kernel does not know';
    default:
      return '';
  }
}

export class SyscallError extends KexecError {
  readonly call: string;
  constructor(call: 'kexec_load' | 'kexec_file_load' | 'reboot' | 'unload', errno: number) {
    const name = NAMES[errno] ?? `errno ${errno}`;
    const hint = errnoHint(call, errno);
    super(`${call === 'unload' ? 'kexec unload' : call} failed: ${MESSAGES[errno] ?? name} (${name})`, { errno, ...(hint ? { hint } : {}) });
    this.call = call;
  }
}

/**
 * The calls kexec-ts makes. The library's load, unload and exec take one (src/host/kexec-load.ts);
 * only the CLIs construct the real one (`hostSyscalls`), and only for an operation that acts on
 * this machine: --dry-run and --root plan without one. Tests pass a recording fake.
 */
export interface KexecSyscalls {
  kexecLoad(entry: bigint, segments: KexecSegment[], flags: bigint): void;
  kexecFileLoad(kernelFd: number, initrdFd: number, cmdline: string | undefined, flags: bigint): void;
  /** kexec_load with no segments (flags: KEXEC_ON_CRASH to unload the crash kernel). */
  unloadKexecLoad(flags: bigint): void;
  /** kexec_file_load with KEXEC_FILE_UNLOAD added (flags: KEXEC_FILE_ON_CRASH for the crash kernel). */
  unloadKexecFile(flags: bigint): void;
  rebootKexec(): void;
  sync(): void;
}
