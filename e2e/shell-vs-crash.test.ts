// `vmcore-ts shell`'s commands against crash 9.0.2 (the Debian sid root, with each kernel's debug
// vmlinux) on the x86_64 dumps the kdump scenarios saved from real Debian kernels (6.1 and 6.12, the
// .json beside each in ~/.cache/kexec-ts/vmcore/): the commands whose fields we have print what
// crash prints, line for line. Opt-in (a Debian root and crash runs take minutes): E2E_SUITES=all
// (`npm run e2e -- --all`) or E2E_CRASH_SHELL=1.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConsoleSession } from '../src/analyze/console/session.ts';
import { apiConsoleCommands } from '../src/api/console-commands.ts';
import { parseLine } from '../src/analyze/console/line.ts';
import { openKernelDump } from '../src/analyze/open-kernel-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import { nodePageDecoders } from '../src/host/node-codecs.ts';
import { cannotMakeRoot } from '../test/packaging/debian-root.ts';
import { crashSidOutputs } from './harness/crash-tool.ts';
import { getDebugVmlinux } from './harness/kernels.ts';

const asked = process.env.E2E_SUITES === 'all' || process.env.E2E_CRASH_SHELL === '1';
const DIR = join(homedir(), '.cache/kexec-ts/vmcore');
const SAME = ['ps', 'ps -S', 'ps -k -H', 'foreach RU ps', 'mod', 'kmem -i', 'files 1', 'runq', 'rd linux_banner 4', 'rd -32 linux_banner 8', 'rd -8 linux_banner 20', 'p runqueues', 'p jiffies'];
const dumps = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => f.endsWith('.json') && !f.startsWith('arm64'))
      .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { suite: string; release: string; vmcore: string })
      .filter((d) => existsSync(d.vmcore))
  : [];

for (const d of dumps.length ? dumps : [undefined]) {
  const skip = !asked ? 'with E2E_SUITES=all or E2E_CRASH_SHELL=1' : !d ? `no x86_64 dump in ${DIR} (the kdump scenarios make them)` : cannotMakeRoot();
  test(`shell vs crash 9.0.2 on ${d?.release ?? 'the e2e dumps'}: ${SAME.join(', ')} line for line; sys's rows`, { skip, timeout: 20 * 60_000 }, async (t) => {
    const vmlinux = await getDebugVmlinux(d!.suite, d!.release);
    const crash = crashSidOutputs(vmlinux, d!.vmcore, ['sys', ...SAME]).byCommand;
    // crash 9.0.2 predates Linux 7.x's struct module: it stops at start-up and prints nothing.
    if ([...crash.values()].every((o) => !o.trim())) return t.skip(`crash 9.0.2 prints nothing on ${d!.release} (it cannot read this kernel)`);
    const kd = openKernelDump(new FileSource(d!.vmcore), { decoders: nodePageDecoders });
    for (const cmd of SAME) {
      const ours = new ConsoleSession(kd, apiConsoleCommands).run(parseLine(cmd)).text;
      // A kernel whose BTF has no per-CPU VARs (Debian's 5.10): we cannot name the type; the addresses still match.
      if (/\(unknown: this kernel's BTF has no type for /.test(ours)) {
        const addresses = (x: string | undefined) => x?.slice(x.indexOf('PER-CPU ADDRESSES:'));
        t.diagnostic(`${cmd}: the type is unknown without BTF VARs; addresses compared`);
        assert.equal(addresses(ours), addresses(crash.get(cmd)), `${d!.release}: ${cmd}`);
        continue;
      }
      assert.equal(ours, crash.get(cmd), `${d!.release}: ${cmd}`);
    }
    // UPTIME: ours is the last log record's time, crash's is jiffies / HZ; they part on the 6.12 TCG guest (8 s against 3:47)
    const rows = (t: string) => t.split('\n').filter((l) => l && !/^ *(KERNEL|DUMPFILE|UPTIME):/.test(l));
    assert.deepEqual(rows(new ConsoleSession(kd, apiConsoleCommands).run(parseLine('sys')).text), rows(crash.get('sys') ?? ''), `${d!.release}: sys`);
  });
}
