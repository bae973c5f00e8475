import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ERRNO, SyscallError, errnoHint } from '../../src/kexec/syscalls.ts';
import { NO_HOST_SYSCALLS_ENV, bindLibcFunctions, hostSyscalls, refuseInTests } from '../../src/host/syscalls.ts';
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

test('the real syscalls cannot be constructed in a test process (KEXEC_TS_NO_HOST_SYSCALLS, or node --test itself)', () => {
  const saved = { guard: process.env[NO_HOST_SYSCALLS_ENV], ctx: process.env.NODE_TEST_CONTEXT };
  try {
    process.env[NO_HOST_SYSCALLS_ENV] = '1';
    assert.throws(() => hostSyscalls('loading a kernel'), (e: unknown) => e instanceof KexecError && /loading a kernel: refusing to make real kexec syscalls in a test/.test(e.message));
    delete process.env[NO_HOST_SYSCALLS_ENV];
    process.env.NODE_TEST_CONTEXT = 'child-v8';
    assert.throws(() => hostSyscalls('unloading'), /refusing to make real kexec syscalls in a test \(NODE_TEST_CONTEXT is set\)/);
  } finally {
    for (const [k, v] of [[NO_HOST_SYSCALLS_ENV, saved.guard], ['NODE_TEST_CONTEXT', saved.ctx]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('refuseInTests, which guards the real syscalls and the sysrq crash on / (kdump-ts crash), throws under node --test', () => {
  assert.ok(process.env.NODE_TEST_CONTEXT || process.env[NO_HOST_SYSCALLS_ENV], 'this runs under the test runner');
  assert.throws(() => refuseInTests('crashing this machine', 'write /proc/sysrq-trigger', 'give --root a fake tree'), (e: unknown) => e instanceof KexecError && /^crashing this machine: refusing to write \/proc\/sysrq-trigger in a test/.test(e.message));
});

const koffiInstalled = (() => {
  try {
    createRequire(import.meta.url)('koffi');
    return true;
  } catch {
    return false;
  }
})();

test('koffi binds libc syscall() and sync() (bound, never called)', { skip: koffiInstalled && process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch) ? false : 'needs koffi on Linux x86_64/arm64' }, () => {
  const libc = bindLibcFunctions();
  assert.equal(typeof libc.syscall, 'function');
  assert.equal(typeof libc.sync, 'function');
  assert.equal(libc.nr.kexec_file_load, process.arch === 'x64' ? 320 : 294);
});
