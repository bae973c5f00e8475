// Real kernels: kexec-ts loads and boots the next kernel through BOTH syscalls — kexec_load (-c: our
// bzImage loader and our purgatory) then kexec_file_load (-s: the kernel's loader) — and the next
// kernel sees exactly the command line we gave and an intact initrd. Then a load with one segment
// damaged after its digest was taken (--debug-corrupt-segment) makes our purgatory report the
// mismatch on the serial console and halt instead of starting the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario, MARK_RE, type ScenarioSpec } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { koffiBinaryFiles } from './kexec-ts-files.ts';
import { E2EStepError } from './harness/steps.ts';
import { cannotRun, orSkipOnDownload } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;

/** Loads /scratch/boot/vmlinuz + initrd for stage NEXT with `kexec-ts FLAGS -l`, then `kexec-ts -e`. */
const kexecTsInto = (next: string, flags: string, extra = '') => `
C="$(stage_cmdline ${next} e2e.via=ts${flags.replace(/[\s-]+/g, '')})"
mark want-cmdline "$C"
check kexec-ts-load kexec-ts ${flags} -l /scratch/boot/vmlinuz --initrd=/scratch/boot/initrd.img --command-line="$C" ${extra}
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"
kexec-ts -S -l > /dev/null || fail "kexec-ts -S -l says nothing is loaded"
prepare_kexec
mark kexec-e
kexec-ts -e
fail "kexec-ts -e returned $?"
`;

const proveBoot = `
mark cmdline "$(cat /proc/cmdline)"
mark payload-sha256 "$(sha256sum /e2e/payload.bin | cut -d' ' -f1)"
`;

export function kexecTsScenario(suite: string, payload: Uint8Array): ScenarioSpec {
  return {
    name: 'kexec-ts',
    suite,
    cpu: 'max',
    memoryMiB: 1024,
    files: { 'e2e/payload.bin': payload, ...koffiBinaryFiles() },
    stages: {
      // -e with nothing loaded must refuse (and not reboot).
      first: `
kexec-ts -e 2> /tmp/e.txt && fail "kexec-ts -e with nothing loaded returned 0"
mark refuse-exec "$(cat /tmp/e.txt)"
${kexecTsInto('second', '-c')}`,
      second: proveBoot + kexecTsInto('third', '-s'),
      third: proveBoot + kexecTsInto('never', '-c', '--debug-corrupt-segment initrd'),
      never: 'mark started-with-corrupt-initrd\n',
    },
    // Ends in the purgatory's halt loop: the harness times out and we read the console.
    timeoutMs: Number(process.env.E2E_KEXEC_TS_TIMEOUT_MS ?? 240_000),
    ...(log ? { log } : {}),
  };
}

function markers(consoleText: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of consoleText.split('\n')) {
    const x = MARK_RE.exec(line.replace(/\r$/, ''));
    if (x && !m.has(`${x[1]}:${x[2]}`)) m.set(`${x[1]}:${x[2]}`, x[4]!.trim());
  }
  return m;
}

for (const suite of suites()) {
  test(`e2e ${suite}: kexec-ts -c -l / -s -l boot the next kernel with the exact command line and initrd; a corrupted segment stops our purgatory`, async (t) => {
    if (cannotRun(t)) return;
    await orSkipOnDownload(t, async () => {
      const payload = randomBytes(64 * 1024);
      const sha = createHash('sha256').update(payload).digest('hex');
      let consoleText: string;
      try {
        const r = await runScenario(kexecTsScenario(suite, payload));
        consoleText = r.console;
        assert.fail('the guest powered off: the corrupt load should have halted in the purgatory');
      } catch (e) {
        if (!(e instanceof E2EStepError) || e.step !== 'timeout') throw e;
        consoleText = readFileSync(join(REPO, 'e2e', 'out', `kexec-ts-${suite}-max`, 'console.log'), 'utf8');
      }
      const m = markers(consoleText);
      const report = `\n--- console tail ---\n${consoleText.split('\n').slice(-40).join('\n')}`;
      assert.match(m.get('first:refuse-exec') ?? '', /nothing has been loaded/, 'kexec-ts -e refuses with nothing loaded' + report);
      for (const [from, to] of [['first', 'second'], ['second', 'third']] as const) {
        assert.ok(m.has(`${to}:cmdline`), `${to} kernel booted (${from} used ${from === 'first' ? 'kexec_load' : 'kexec_file_load'})${report}`);
        assert.equal(m.get(`${to}:cmdline`), m.get(`${from}:want-cmdline`), `${to} kernel sees exactly the command line`);
        assert.equal(m.get(`${to}:payload-sha256`), sha, `${to} kernel's initrd is intact`);
      }
      assert.match(consoleText, /kexec-ts purgatory: segments verified, starting the new kernel/, 'our purgatory verified the -c load' + report);
      assert.ok(m.has('third:kexec-e'), 'third stage reached kexec-ts -e with the corrupted load' + report);
      assert.match(consoleText, /kexec-ts purgatory: SHA-256 mismatch in segment at 0x[0-9a-f]+/, 'purgatory reports the damaged segment' + report);
      assert.match(consoleText, /not starting the new kernel; halting/);
      assert.ok(!m.has('never:started-with-corrupt-initrd') && !m.has('never:boot'), 'no kernel started after the mismatch');
    });
  });
}
