import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { ERRNO, SyscallError, errnoHint, loadSyscalls } from '../../src/kexec/syscalls.ts';
import { KexecError } from '../../src/errors.ts';

test('errno values become one line with the usual cause', () => {
  const cases: [ConstructorParameters<typeof SyscallError>[0], number, RegExp, RegExp][] = [
    ['kexec_load', ERRNO.EPERM, /kexec_load failed: Operation not permitted \(EPERM\)/, /lockdown \/ Secure Boot.*try -s/],
    ['kexec_file_load', ERRNO.EKEYREJECTED, /Key was rejected by service \(EKEYREJECTED\)/, /not signed by a trusted key/],
    ['kexec_load', ERRNO.EADDRNOTAVAIL, /Cannot assign requested address/, /crash kernel region/],
    ['kexec_load', ERRNO.EBUSY, /Device or resource busy/, /in progress/],
    ['kexec_file_load', ERRNO.ENOSYS, /Function not implemented/, /no kexec support/],
    ['kexec_load', ERRNO.EINVAL, /Invalid argument/, /overlapping segments, more than 16, larger than half of RAM/],
    ['reboot', ERRNO.EINVAL, /reboot failed/, /no kexec image is loaded/],
    ['kexec_load', ERRNO.EACCES, /Permission denied/, /IMA/],
  ];
  for (const [call, errno, msg, hint] of cases) {
    const e = new SyscallError(call, errno);
    assert.ok(e instanceof KexecError);
    assert.equal(e.errno, errno);
    assert.match(e.message, msg);
    assert.match(e.hint ?? '', hint);
  }
  assert.equal(errnoHint('kexec_load', 12345), '');
});

test('koffi loads lazily and a real kexec_file_load unload answers ENOSYS on a kernel without kexec', { skip: existsSync('/sys/kernel/kexec_loaded') ? 'this kernel has kexec' : false }, () => {
  const sys = loadSyscalls();
  assert.throws(() => sys.unloadKexecFile(0n), (e: unknown) => e instanceof SyscallError && e.errno === ERRNO.ENOSYS);
  assert.throws(() => sys.kexecLoad(0x1000n, [{ buf: new Uint8Array(16), mem: 0x100000n, memsz: 0x1000n, what: 'x' }], 0x3e0000n), (e: unknown) => e instanceof SyscallError && e.errno === ERRNO.ENOSYS);
});
