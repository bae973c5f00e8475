// The one module that talks to the kernel: kexec_load, kexec_file_load, reboot and sync through
// libc's syscall() via koffi (bound at the first call, so everything else works without it). Errno
// values become a SyscallError (src/kexec/syscalls.ts) with a hint saying what usually causes them.
import { KexecError } from '../errors.ts';
import { loadKoffi, type Koffi } from './koffi.ts';
import { KEXEC_FILE_UNLOAD } from '../kexec/plan.ts';
import { LINUX_REBOOT_CMD_KEXEC, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, SYSCALLS, SyscallError, type KexecSyscalls } from '../kexec/syscalls.ts';


/** Set in every test process (scripts/run-tests.mjs; node --test sets NODE_TEST_CONTEXT): the real syscalls cannot be constructed. */
export const NO_HOST_SYSCALLS_ENV = 'KEXEC_TS_NO_HOST_SYSCALLS';

/**
 * The real syscalls of this machine, for an operation that needs root (`purpose`: "loading a
 * kernel"…). Refused when not root, and always in tests: a test that reached this would load or
 * reboot the machine running it. koffi and libc are bound at the first call.
 */
export function hostSyscalls(purpose: string, hint = 'run it with sudo, or use --dry-run to plan'): KexecSyscalls {
  refuseInTests(purpose, 'make real kexec syscalls', 'pass a KexecSyscalls fake to the library instead');
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
    throw new KexecError(`${purpose} needs root (CAP_SYS_BOOT)`, { hint });
  }
  let bound: KexecSyscalls | undefined;
  const real = () => (bound ??= bindLibc());
  return {
    kexecLoad: (entry, segments, flags) => real().kexecLoad(entry, segments, flags),
    kexecFileLoad: (kernelFd, initrdFd, cmdline, flags) => real().kexecFileLoad(kernelFd, initrdFd, cmdline, flags),
    unloadKexecLoad: (flags) => real().unloadKexecLoad(flags),
    unloadKexecFile: (flags) => real().unloadKexecFile(flags),
    rebootKexec: () => real().rebootKexec(),
    sync: () => real().sync(),
  };
}

/**
 * Throws in every test process (NO_HOST_SYSCALLS_ENV or NODE_TEST_CONTEXT set): what `purpose` would
 * do acts on the machine running the tests (a kexec syscall, a reboot, a crash through sysrq).
 */
export function refuseInTests(purpose: string, action: string, hint: string): void {
  const why = process.env[NO_HOST_SYSCALLS_ENV] ? NO_HOST_SYSCALLS_ENV : process.env.NODE_TEST_CONTEXT ? 'NODE_TEST_CONTEXT' : undefined;
  if (why) throw new KexecError(`${purpose}: refusing to ${action} in a test (${why} is set)`, { hint });
}

/**
 * Loads koffi and binds libc's syscall() and sync(): binding calls nothing. A KexecError with a hint
 * when koffi is not installed or this platform has no syscall numbers here.
 */
export function bindLibcFunctions(): { nr: (typeof SYSCALLS)[keyof typeof SYSCALLS]; syscall: (...args: unknown[]) => unknown; sync: () => unknown; errno: () => number } {
  const arch = process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'arm64' : undefined;
  if (!arch || process.platform !== 'linux') {
    throw new KexecError(`kexec syscalls are only wired for Linux on x86_64 and arm64 (this is ${process.platform}/${process.arch})`, {
      hint: 'use --dry-run to plan',
    });
  }
  let koffi: Koffi;
  try {
    koffi = loadKoffi();
  } catch (e) {
    throw new KexecError(`cannot load koffi, the FFI kexec-ts calls the kernel with: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'install it (npm install koffi), or use --dry-run',
    });
  }
  const libc = koffi.load('libc.so.6');
  koffi.struct('kexec_segment', { buf: 'void *', bufsz: 'size_t', mem: 'uint64_t', memsz: 'size_t' });
  return { nr: SYSCALLS[arch], syscall: libc.func('long syscall(long nr, ...)'), sync: libc.func('void sync(void)'), errno: () => koffi.errno() };
}

function bindLibc(): KexecSyscalls {
  const { nr, syscall, sync, errno } = bindLibcFunctions();
  const check = (call: 'kexec_load' | 'kexec_file_load' | 'reboot' | 'unload', ret: unknown) => {
    if (Number(ret) < 0) throw new SyscallError(call, errno());
  };
  const buffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.length);
  return {
    kexecLoad(entry, segments, flags) {
      const segs = segments.map((s) => ({ buf: s.buf.length ? buffer(s.buf) : null, bufsz: s.buf.length, mem: s.mem, memsz: Number(s.memsz) }));
      check('kexec_load', syscall(nr.kexec_load, 'unsigned long', entry, 'unsigned long', segs.length, 'kexec_segment *', segs, 'unsigned long', flags));
    },
    kexecFileLoad(kernelFd, initrdFd, cmdline, flags) {
      const c = cmdline === undefined ? null : Buffer.from(cmdline + '\0', 'utf8');
      check('kexec_file_load', syscall(nr.kexec_file_load, 'int', kernelFd, 'int', initrdFd, 'unsigned long', c ? c.length : 0, 'void *', c, 'unsigned long', flags));
    },
    unloadKexecLoad(flags) {
      check('unload', syscall(nr.kexec_load, 'unsigned long', 0, 'unsigned long', 0, 'void *', null, 'unsigned long', flags));
    },
    unloadKexecFile(flags) {
      check('unload', syscall(nr.kexec_file_load, 'int', -1, 'int', -1, 'unsigned long', 0, 'void *', null, 'unsigned long', flags | KEXEC_FILE_UNLOAD));
    },
    rebootKexec() {
      check('reboot', syscall(nr.reboot, 'unsigned int', LINUX_REBOOT_MAGIC1, 'unsigned int', LINUX_REBOOT_MAGIC2, 'unsigned int', LINUX_REBOOT_CMD_KEXEC, 'void *', null));
    },
    sync() {
      sync();
    },
  };
}
