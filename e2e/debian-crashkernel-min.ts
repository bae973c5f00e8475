// One try of a crash-dump tool at a given crashkernel= in the Debian-system guest (SeaBIOS + GRUB,
// systemd; harness/debian-guest.ts), for bench/crashkernel-min.ts's bisect. The same steps for both
// tools, each from its own image variant:
//   kdump-tools  Debian's kdump-tools + makedumpfile (variant kdump-tools; GRUB snippet kdump-tools.cfg)
//   kexec-ts     our .deb, installed on the first boot with apt-get (variant kexec-ts-deps; GRUB
//                snippet kdump-ts.cfg); `kdump-ts estimate` is recorded after the install
// A first stage rewrites crashkernel= in the tool's /etc/default/grub.d snippet, runs update-grub and
// reboots through the firmware; the next boot checks crashkernel= and the loaded capture kernel and
// crashes with sysrq-c; the boot after it checks /var/crash/<timestamp>/ (the dump, the dmesg text
// with the crash line; ours: save-exit-code 0) and copies the dump out. The try works when the
// host's vmcore-ts dmesg reads the crash line from that dump too.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { getDebianImage, type ImageVariant } from './harness/debian-image.ts';
import { bootSystem, sysrqCrashStage } from './harness/debian-guest.ts';
import { REPO } from './harness/initramfs.ts';
import { buildDeb, DEB_INSTALL_STAGE, lines } from './harness/kexec-ts-deb.ts';
import { NODE_ARGS } from '../src/node-args.ts';

export type MinTool = 'kdump-tools' | 'kexec-ts';

interface ToolSpec {
  variant: ImageVariant;
  /** the /etc/default/grub.d snippet holding crashkernel= */
  grubSnippet: string;
  /** stage lines before the crashkernel= rewrite (the install) */
  install: string;
  /** the unique crash line's prefix */
  tag: string;
  /** first boot: fails unless the tool's capture kernel is armed */
  armed: string;
  /** globs in the dump directory: the dump, the kernel log text */
  dump: string;
  dmesg: string;
  /** the boot after the crash: extra markers */
  saved: string;
}

const TOOLS: Record<MinTool, ToolSpec> = {
  'kdump-tools': {
    variant: 'kdump-tools',
    grubSnippet: '/etc/default/grub.d/kdump-tools.cfg',
    install: '',
    tag: 'E2E-KDUMP-TOOLS-MIN',
    armed: '',
    dump: 'dump.*',
    dmesg: 'dmesg.*',
    saved: '',
  },
  'kexec-ts': {
    variant: 'kexec-ts-deps',
    grubSnippet: '/etc/default/grub.d/kdump-ts.cfg',
    install: `${DEB_INSTALL_STAGE}
mark estimate ${lines('kdump-ts estimate 2>&1')}`,
    tag: 'E2E-KEXEC-TS-MIN',
    armed: `mark active "$(systemctl is-active kdump-ts)"
[ "$(systemctl is-active kdump-ts)" = active ] || fail "kdump-ts.service is $(systemctl is-active kdump-ts): $(journalctl -u kdump-ts -b -q --no-pager -o cat | tail -3 | xargs)"`,
    dump: 'vmcore',
    dmesg: 'dmesg.txt',
    saved: `mark save-exit-code "$(cat $d/save-exit-code 2>/dev/null)"`,
  },
};

function stages(t: ToolSpec, mib: number): Record<string, string> {
  return {
    set: `${t.install}
sed -i 's/crashkernel=[^ "]*/crashkernel=${mib}M/' ${t.grubSnippet}
update-grub 2>/dev/null
reboot_to first`,
    first: `mark cmdline "$(cat /proc/cmdline)"
${t.armed}
check crash-loaded test "$(cat /sys/kernel/kexec_crash_loaded)" = 1
${sysrqCrashStage(t.tag, 'second')}`,
    second: `shopt -s nullglob
dirs=(/var/crash/2*/)
[ \${#dirs[@]} -eq 1 ] || fail "expected one /var/crash/<timestamp>/, found \${#dirs[@]}"
d=\${dirs[0]%/}
mark crash-files "$(cd $d && ls -l | awk 'NR>1 {print $NF":"$5}' | xargs)"
${t.saved}
dumps=($d/${t.dump}); logs=($d/${t.dmesg})
[ \${#dumps[@]} -ge 1 ] && [ -s "\${dumps[0]}" ] || fail "no ${t.dump} in $d"
[ \${#logs[@]} -ge 1 ] || fail "no ${t.dmesg} in $d"
mark dmesg-line "$(grep -o '${t.tag}-[0-9a-f-]*' "\${logs[0]}" | head -1)"
mkdir -p $JOB/out && cp "\${dumps[0]}" $JOB/out/dump && sync`,
  };
}

export interface MinTry {
  ok: boolean;
  why: string;
  /** kexec-ts: what `kdump-ts estimate` printed in the guest after the install */
  estimate?: string;
  /** kexec-ts: the capture /init's lowest MemAvailable during the save (console) */
  lowestMemAvailableKiB?: number;
}

/** The .deb is built once per process (per suite). */
const debs = new Map<string, { name: string; bytes: Buffer }>();

export async function runMinTry(tool: MinTool, o: { suite: string; crashkernelMiB: number; timeoutMs?: number; log?: (s: string) => void }): Promise<MinTry> {
  const t = TOOLS[tool];
  const image = await getDebianImage(o.suite, t.variant, o.log);
  let files: Record<string, Buffer> = {};
  if (tool === 'kexec-ts') {
    if (!debs.has(o.suite)) debs.set(o.suite, buildDeb(join(REPO, 'e2e', 'out', `crashkernel-min-deb-${o.suite}`), o.suite));
    const deb = debs.get(o.suite)!;
    files = { [deb.name]: deb.bytes };
  }
  let r;
  try {
    r = await bootSystem({
      name: `debian-${tool}-min-${o.suite}-${o.crashkernelMiB}M`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'seabios',
      stages: stages(t, o.crashkernelMiB),
      start: 'set',
      files,
      expect: ['first:crash', 'second:dmesg-line'],
      jobDiskMiB: 1024,
      timeoutMs: o.timeoutMs ?? 12 * 60_000,
      ...(o.log ? { log: o.log } : {}),
    });
  } catch (e) {
    return { ok: false, why: (e as Error).message.split('\n').slice(0, 3).join(' ') };
  }
  const estimate = r.find('set', 'estimate')?.value;
  const low = /kdump-ts: lowest MemAvailable during the save: (\d+) kB/.exec(r.console);
  const facts = { ...(estimate ? { estimate } : {}), ...(low ? { lowestMemAvailableKiB: Number(low[1]) } : {}) };
  const fail = (why: string): MinTry => {
    r.cleanup();
    return { ok: false, why, ...facts };
  };
  const line = r.marker('first', 'crash-line').value;
  if (!r.marker('first', 'cmdline').value.includes(`crashkernel=${o.crashkernelMiB}M`)) return fail(`crashkernel=${o.crashkernelMiB}M not on the command line: ${r.marker('first', 'cmdline').value}`);
  const exit = r.find('second', 'save-exit-code')?.value;
  if (exit !== undefined && exit !== '0') return fail(`vmcore-ts save in the capture kernel exited '${exit}' (${r.marker('second', 'crash-files').value})`);
  if (r.marker('second', 'dmesg-line').value !== line) return fail(`the crash line is not in ${tool}'s ${t.dmesg}`);
  const dump = r.job.copyOut('out/dump', join(r.outDir, 'dump'));
  const d = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'dmesg', dump], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  rmSync(dump);
  if (!d.stdout.includes(line)) return fail(`vmcore-ts dmesg on ${tool}'s dump: exit ${d.status}, crash line missing`);
  r.cleanup();
  return { ok: true, why: `${tool} saved ${t.dump} + ${t.dmesg} with the crash line (${r.marker('second', 'crash-files').value}); vmcore-ts dmesg reads the dump`, ...facts };
}

/** Debian's kdump-tools at `crashkernel=` (bench/crashkernel-min.ts --modes=kdump-tools). */
export const runKdumpTools = (o: { suite: string; crashkernelMiB: number; timeoutMs?: number; log?: (s: string) => void }): Promise<MinTry> => runMinTry('kdump-tools', o);
