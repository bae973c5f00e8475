// The real thing, on demand (2–5 minutes under TCG; KERNEL_SUITE=trixie for 6.12): fixtures/arm64/kexec-ts-boot.sh boots
// Debian's arm64 kernel in qemu-system-aarch64, runs `kexec-ts -c -l` + `kexec-ts -e` there with our
// purgatory, and checks the second kernel's command line and initrd. KEXEC_TS_ARM64_BOOT=1 runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const skip = process.env.KEXEC_TS_ARM64_BOOT !== '1' && 'set KEXEC_TS_ARM64_BOOT=1 to boot arm64 under QEMU (about 5 minutes)';

test('arm64 boot: kexec-ts loads and execs a second Debian arm64 kernel through our purgatory', { skip, timeout: 20 * 60_000 }, () => {
  const r = spawnSync('bash', [new URL('../fixtures/arm64/kexec-ts-boot.sh', import.meta.url).pathname], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  assert.match(r.stdout, /kexec-ts booted the second kernel with the exact command line and an intact initrd/);
});
