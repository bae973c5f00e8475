// Real kernels: Node.js starts in the guest; kexec -l and kexec -s -l (kexec-tools) boot the next
// kernel with the command line and initrd we gave it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { runScenario } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { kexecReboot } from './scenarios.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;

for (const suite of suites()) {
  test(`e2e ${suite}: node runs in the guest; kexec -l then kexec -s -l boot the next kernel with our command line and initrd`, async (t) => {
    if (cannotRun(t, { referenceTools: true })) return;
    await orSkipOnDownload(t, async () => {
      const payload = randomBytes(64 * 1024);
      const sha = createHash('sha256').update(payload).digest('hex');
      const r = await runScenario({ ...kexecReboot(suite, 'max', payload), log });
      assert.match(r.marker('first', 'node-started').value, /^v\d+\.\d+\.\d+ x64/);
      assert.match(r.marker('first', 'bundle-ok').value, /usage: vmcore-ts/);
      for (const [stage, via] of [['second', '-l'], ['third', '-s-l']] as const) {
        const cmdline = r.marker(stage, 'cmdline').value;
        assert.match(cmdline, new RegExp(`e2e\\.stage=${stage} e2e\\.via=${via}(\\s|$)`), `${stage} kernel command line`);
        assert.equal(r.marker(stage, 'payload-sha256').value, sha, `${stage} kernel's initrd payload checksum`);
        assert.equal(r.marker(stage, 'boot').value, r.kernel.release);
      }
      const kexecToInit = (from: string, to: string) => (r.marker(to, 'boot').hostMs - r.marker(from, 'kexec-e').hostMs) / 1000;
      const rec = recordTimings(r, 'kexec-reboot', {
        kexecLToInitS: kexecToInit('first', 'second'),
        kexecSLToInitS: kexecToInit('second', 'third'),
      });
      for (const line of timingSummary(r).split('\n')) t.diagnostic(line);
      t.diagnostic(`kexec -e -> next /init: ${rec.extra!.kexecLToInitS!.toFixed(1)} s (kexec_load), ${rec.extra!.kexecSLToInitS!.toFixed(1)} s (kexec_file_load)`);
      r.cleanup();
    });
  });
}
