// A KexecSyscalls that records every call and makes none: what tests hand the library instead of the
// real syscalls (which refuse to be constructed in a test process).
import { SyscallError, type KexecSyscalls } from '../../src/kexec/syscalls.ts';

export type SyscallName = keyof KexecSyscalls;

const CALL: Record<SyscallName, ConstructorParameters<typeof SyscallError>[0]> = {
  kexecLoad: 'kexec_load',
  kexecFileLoad: 'kexec_file_load',
  unloadKexecLoad: 'unload',
  unloadKexecFile: 'unload',
  rebootKexec: 'reboot',
  sync: 'reboot',
};

/** Records calls in `calls` (name and arguments); a call named in `errnos` fails with that errno, as the kernel would. */
export function fakeSyscalls(errnos: Partial<Record<SyscallName, number>> = {}): KexecSyscalls & { calls: { name: SyscallName; args: unknown[] }[] } {
  const calls: { name: SyscallName; args: unknown[] }[] = [];
  const make =
    (name: SyscallName) =>
    (...args: unknown[]) => {
      calls.push({ name, args });
      const errno = errnos[name];
      if (errno !== undefined) throw new SyscallError(CALL[name], errno);
    };
  return {
    calls,
    kexecLoad: make('kexecLoad'),
    kexecFileLoad: make('kexecFileLoad'),
    unloadKexecLoad: make('unloadKexecLoad'),
    unloadKexecFile: make('unloadKexecFile'),
    rebootKexec: make('rebootKexec'),
    sync: make('sync'),
  };
}
