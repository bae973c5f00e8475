// The scenarios the e2e tests and benchmarks run. Each returns a ScenarioSpec for runScenario;
// the stage scripts use the helpers of e2e/harness/guest-scripts.ts (mark, check, fail,
// stage_cmdline, prepare_kexec). Our own tools plug in here as they land (see e2e/README.md).
import type { ScenarioSpec } from './harness/scenario.ts';
import { NODE_FLAGS } from '../src/node-args.ts';

/** Loads /scratch/boot/vmlinuz + initrd.img for stage NEXT with `kexec LOADFLAGS`, then kexec -e. */
const kexecInto = (next: string, loadFlags: string) => `
check kexec-load kexec ${loadFlags} /scratch/boot/vmlinuz --initrd=/scratch/boot/initrd.img --command-line="$(stage_cmdline ${next} e2e.via=${loadFlags.replace(/\s+/g, '')})"
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"
prepare_kexec
mark kexec-e
kexec -e
fail "kexec -e returned $?"
`;

const proveBoot = `
mark cmdline "$(cat /proc/cmdline)"
mark payload-sha256 "$(sha256sum /e2e/payload.bin | cut -d' ' -f1)"
`;

/**
 * One guest, three kernels: the first proves Node.js and our bundle run, then kexec -l (kexec_load)
 * into the second, which proves its command line and initrd and kexec -s -l (kexec_file_load) into
 * the third, which proves them again.
 */
export function kexecReboot(suite: string, cpu: string, payload: Uint8Array): ScenarioSpec {
  return {
    name: 'kexec-reboot',
    suite,
    cpu,
    memoryMiB: 1024,
    files: { 'e2e/payload.bin': payload },
    stages: {
      first: `
mark node-started "$(node -e 'console.log(process.version + " " + process.arch + " pid=" + process.pid)')"
vmcore-ts --help > /tmp/help.txt 2>&1 && mark bundle-ok "$(head -1 /tmp/help.txt)" || fail "vmcore-ts --help: $(head -1 /tmp/help.txt)"
mark cmdline "$(cat /proc/cmdline)"
${kexecInto('second', '-l')}`,
      second: proveBoot + kexecInto('third', '-s -l'),
      third: proveBoot,
    },
    expect: ['first:node-started', 'first:bundle-ok', 'second:cmdline', 'second:payload-sha256', 'third:cmdline', 'third:payload-sha256'],
    timeoutMs: 8 * 60_000,
  };
}

/** How a kdump scenario crashes its kernel. */
export type CrashTrigger = 'sysrq' | 'oom';

const CRASH_COMMANDS: Record<CrashTrigger, string> = {
  sysrq: `echo c > /proc/sysrq-trigger
fail "still running after sysrq-c"`,
  // A different bug for crash signatures: memory filled through a tmpfs as big as RAM, with
  // vm.panic_on_oom set, so the allocating task (dd) panics in the OOM path.
  oom: `echo 1 > /proc/sys/vm/panic_on_oom
mkdir -p /oom && mount -t tmpfs -o size=100% oom /oom
dd if=/dev/zero of=/oom/fill bs=1M 2>/dev/null
fail "still running after filling memory with panic_on_oom set"`,
};

/**
 * kdump: crashkernel=256M in a 1 GiB guest (or `memoryMiB`), kexec -p with the slim capture initrd,
 * a unique line to /dev/kmsg, a crash (`trigger`: sysrq-c, or an OOM panic); the capture kernel saves
 * /proc/vmcore with makedumpfile (zlib and LZO, -d 31), its dmesg, and (when `raw`) an unfiltered ELF
 * copy for benchmarks.
 */
export function kdump(suite: string, cpu: string, crashMarker: string, raw: boolean, memoryMiB = 1024, trigger: CrashTrigger = 'sysrq'): ScenarioSpec {
  return {
    name: trigger === 'sysrq' ? 'kdump' : `kdump-${trigger}`,
    suite,
    cpu,
    memoryMiB,
    cmdline: 'crashkernel=256M',
    node: false, // reference tools only: a smaller initramfs boots faster
    diskMiB: raw ? memoryMiB + 376 : 320,
    stages: {
      first: `
check kexec-p kexec -p /boot/vmlinuz --initrd=/scratch/boot/initrd-capture.img --command-line="$(stage_cmdline capture irqpoll nr_cpus=1 reset_devices)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
echo "${crashMarker}" > /dev/kmsg
prepare_kexec
mark crashing
${CRASH_COMMANDS[trigger]}
`,
      capture: `
mark vmcore-size "$(stat -c %s /proc/vmcore)"
check makedumpfile-zlib makedumpfile -c -d 31 /proc/vmcore /scratch/vmcore-zlib.kdump
mark saved-zlib "$(stat -c %s /scratch/vmcore-zlib.kdump)"
check makedumpfile-lzo makedumpfile -l -d 31 /proc/vmcore /scratch/vmcore-lzo.kdump
mark saved-lzo "$(stat -c %s /scratch/vmcore-lzo.kdump)"
${raw ? 'check makedumpfile-raw makedumpfile -E -d 0 /proc/vmcore /scratch/vmcore-raw.elf\nmark saved-raw "$(stat -c %s /scratch/vmcore-raw.elf)"' : ''}
`,
    },
    expect: ['first:crash-loaded', 'capture:boot', 'capture:saved-zlib', 'capture:saved-lzo', ...(raw ? ['capture:saved-raw'] : [])],
    timeoutMs: 10 * 60_000,
  };
}

/**
 * For the kexec-vs-reboot benchmark: the first boot runs `before`, then reboots through the firmware
 * (reboot -f, SeaBIOS loads the same kernel again); the second boot sees the flag on the disk and
 * powers off.
 */
export function firmwareReboot(suite: string, cpu: string, before = ''): ScenarioSpec {
  return {
    name: 'firmware-reboot',
    suite,
    cpu,
    memoryMiB: 1024,
    allowReboot: true,
    stages: {
      first: `
if [ -e /scratch/rebooted ]; then
  mark after-reboot "$(cat /proc/cmdline)"
else
  ${before}
  touch /scratch/rebooted
  prepare_kexec
  mark reboot-f
  reboot -f
  fail "reboot -f returned"
fi
`,
    },
    expect: ['first:reboot-f', 'first:after-reboot'],
    timeoutMs: 6 * 60_000,
  };
}

/**
 * Node.js, its libraries and our bundle from the guest's initramfs onto the scratch disk, at the
 * same paths: a root file system to run node from (kdump-ts's `capture = root`; the capture kernel's
 * slim initramfs mounts the disk and runs node from it).
 */
export const MAKE_ROOT = `
mkdir -p /scratch/usr/bin /scratch/proc /scratch/dev /scratch/mnt
cp /usr/bin/node /scratch/usr/bin/node
cp -a /lib64 /opt /scratch/
mkdir -p /scratch/lib && cp -a /lib/x86_64-linux-gnu /scratch/lib/
[ -d /usr/lib/x86_64-linux-gnu ] && mkdir -p /scratch/usr/lib && cp -a /usr/lib/x86_64-linux-gnu /scratch/usr/lib/
sync
mark root-made "$(du -sm /scratch | cut -f1)"
`;

/** Where the capture kernel runs node from in captureSpeed: the scratch disk as a root (chroot), or its own initramfs. */
export type CaptureNodeFrom = 'root' | 'initramfs';

export interface CaptureSpeedOptions {
  memoryMiB?: number;
  /** crashkernel= in MiB; default 256 (root) or 384 (node in the capture initramfs does not fit 256) */
  crashkernelMiB?: number;
  /** rounds of the four saves; default 3 */
  runs?: number;
  /** default 'root' */
  nodeFrom?: CaptureNodeFrom;
  /** after the rounds, one more vmcore-ts save per mode under node --cpu-prof (into /scratch/capbench-prof/c|l) */
  profile?: boolean;
  /** in each round, after vmcore-ts, vmcore-ts with VMCORE_TS_NATIVE_CODECS=0 (Node's zlib, our LZO1X) as tool vmcore-ts-builtin */
  builtinCodecs?: boolean;
  /** in each round, vmcore-ts under node --jitless (V8's interpreter only: no machine code generated at run time) as tool vmcore-ts-jitless */
  jitless?: boolean;
  /** in each round, vmcore-ts from its ESM bundle (dist/vmcore-ts.mjs: what root mode ran before the CommonJS launcher) as tool vmcore-ts-esm */
  esm?: boolean;
  /** after the rounds, run this guest path with node (bench/capture-codecs.mjs: per-page cost of each compressor); its JSON line is marker `codecs` */
  codecBench?: string;
  /**
   * after the rounds, per mode: makedumpfile saves once more and this guest path runs with node on
   * /proc/vmcore and that dump (bench/save-floor.ts, bundled: the machine's floor on the capture
   * kernel's one CPU, read + compress of the kept pages); its JSON line is marker `floor` ("MODE JSON")
   */
  floorBench?: string;
  /** extra initramfs files (the native codec libraries, koffi's binary) */
  files?: ScenarioSpec['files'];
}

/** The save modes captureSpeed alternates, in order within a round: makedumpfile then vmcore-ts for each. */
export const CAPTURE_SPEED_MODES = ['c', 'l'] as const;

/**
 * Issue 16's capture-kernel speed (bench/capture-speed.ts): kexec -p with the slim capture initrd
 * (busybox, makedumpfile, modules), sysrq-c; in ONE capture kernel (nr_cpus=1, as kdump) `runs`
 * rounds of `makedumpfile -c -d 31`, `vmcore-ts save -c -d 31`, `makedumpfile -l -d 31`,
 * `vmcore-ts save -l -d 31` from /proc/vmcore to the scratch disk (with `builtinCodecs`, each mode
 * also vmcore-ts without the native codec libraries; with `jitless`, under node --jitless; with `esm`, from the ESM bundle). Before each: the output removed,
 * sync, page cache dropped (every run starts cold, as the one save of a real crash does); each timed
 * with /proc/uptime to the tool's exit and to the following sync: marker `run` = "TOOL MODE ROUND
 * MS_TO_EXIT MS_TO_SYNCED BYTES". vmcore-ts runs with node from the scratch disk (chroot: kdump-ts's
 * capture = root) or from the capture initramfs; `node-start` = node + save's start-up (vmcore-ts save
 * --version) cold and warm; `node-read` (root) = reading the node binary from the disk, cold, and
 * the start-up right after it.
 */
export function captureSpeed(suite: string, cpu: string, crashMarker: string, o: CaptureSpeedOptions = {}): ScenarioSpec {
  const nodeFrom = o.nodeFrom ?? 'root';
  const runs = o.runs ?? 3;
  const memoryMiB = o.memoryMiB ?? 1024;
  const crashkernelMiB = o.crashkernelMiB ?? (nodeFrom === 'root' ? 256 : 384);
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`captureSpeed: runs must be a positive integer, not ${runs}`);
  const root = nodeFrom === 'root';
  const modes = CAPTURE_SPEED_MODES.map(
    (m) => `  timed makedumpfile ${m} $i makedumpfile -${m} -d 31 /proc/vmcore $OUT/vmcore
  timed vmcore-ts ${m} $i vts save -${m} -d 31 /proc/vmcore $IN/vmcore${
    o.builtinCodecs ? `\n  timed vmcore-ts-builtin ${m} $i vts_builtin save -${m} -d 31 /proc/vmcore $IN/vmcore` : ''
  }${o.jitless ? `\n  timed vmcore-ts-jitless ${m} $i vnode --jitless $VTS save -${m} -d 31 /proc/vmcore $IN/vmcore` : ''}${
    o.esm ? `\n  timed vmcore-ts-esm ${m} $i vnode /opt/kexec-ts/dist/vmcore-ts.mjs save -${m} -d 31 /proc/vmcore $IN/vmcore` : ''
  }`,
  ).join('\n');
  const profile = CAPTURE_SPEED_MODES.map(
    (m) => `cold
vnode --cpu-prof --cpu-prof-dir $PROF/${m} $VTS save -${m} -d 31 --message-level 23 /proc/vmcore $IN/vmcore > /tmp/profile-${m}.log 2>&1 || fail "profiled vmcore-ts save -${m}: $(tail -n 3 /tmp/profile-${m}.log | tr '\\n' ' ')"
mark profiled "${m} $(ls /scratch/capbench-prof/${m} | tr '\\n' ' ')"`,
  ).join('\n');
  const floor = CAPTURE_SPEED_MODES.map(
    (m) => `cold
makedumpfile -${m} -d 31 /proc/vmcore $OUT/vmcore > /tmp/floor-md-${m}.log 2>&1 || fail "makedumpfile -${m} for the floor: $(tail -n 3 /tmp/floor-md-${m}.log | tr '\\n' ' ')"
vnode ${o.floorBench} /proc/vmcore $IN/vmcore ${m === 'c' ? 'zlib' : 'lzo'} --cores 1 > /tmp/floor-${m}.log 2>&1 || fail "the floor of -${m}: $(tail -n 3 /tmp/floor-${m}.log | tr '\\n' ' ')"
mark floor "${m} $(tail -n 1 /tmp/floor-${m}.log)"`,
  ).join('\n');
  return {
    name: `capture-speed-${nodeFrom}-${memoryMiB}M`,
    suite,
    cpu,
    memoryMiB,
    cmdline: `crashkernel=${crashkernelMiB}M`,
    // the first kernel has node (the root is copied from it); the capture initrd only in initramfs mode
    captureNode: !root,
    diskMiB: 1024,
    files: o.files,
    stages: {
      first: `
${root ? MAKE_ROOT : ''}
check kexec-p kexec -p /boot/vmlinuz --initrd=/scratch/boot/initrd-capture.img --command-line="$(stage_cmdline capture irqpoll nr_cpus=1 reset_devices)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
echo "${crashMarker}" > /dev/kmsg
prepare_kexec
mark crashing
${CRASH_COMMANDS.sysrq}
`,
      capture: `
mark vmcore-size "$(stat -c %s /proc/vmcore)"
mark capture-facts "cpus=$(grep -c ^processor /proc/cpuinfo) $(awk '/^MemTotal|^MemAvailable/ {printf "%s%dMiB ", $1, $2 / 1024}' /proc/meminfo)"
OUT=/scratch/capbench
mkdir -p $OUT /scratch/capbench-logs /scratch/capbench-prof
# what kdump-ts's root mode runs (src/host/kdump-initramfs.ts rootModeBundle): the CommonJS launcher
VTS=/opt/kexec-ts/dist/vmcore-ts.cjs
${
  root
    ? `mount -t proc proc /scratch/proc || fail "mount proc in the scratch root"
mount -t devtmpfs devtmpfs /scratch/dev || fail "mount devtmpfs in the scratch root"
vnode() { chroot /scratch /usr/bin/node ${NODE_FLAGS} "$@"; }
IN=/capbench
PROF=/capbench-prof`
    : `vnode() { node ${NODE_FLAGS} "$@"; }
IN=$OUT
PROF=/scratch/capbench-prof`
}
vts() { vnode $VTS "$@"; }
vts_builtin() ( export VMCORE_TS_NATIVE_CODECS=0; vts "$@" )
# ms: guest uptime in milliseconds (10 ms steps)
ms() { awk '{printf "%d\\n", $1 * 1000}' /proc/uptime; }
# cold: no output file, everything on disk, no page cache (node's files are read again, as after a crash)
cold() { rm -f $OUT/vmcore; sync; echo 3 > /proc/sys/vm/drop_caches; }
# timed TOOL MODE ROUND CMD...: one cold save, timed to the exit and to the sync after it
timed() {
  _tool=$1; _mode=$2; _i=$3; shift 3
  _log=/tmp/$_tool-$_mode-$_i.log
  cold
  _a=$(ms); "$@" > $_log 2>&1; _rc=$?; _b=$(ms); sync; _c=$(ms)
  [ $_rc -eq 0 ] || fail "$_tool -$_mode round $_i exited $_rc: $(tail -n 3 $_log | tr '\\n' ' ')"
  mark run "$_tool $_mode $_i $((_b - _a)) $((_c - _a)) $(stat -c %s $OUT/vmcore)"
}
cold
_a=$(ms); vts save --version > /tmp/version.log 2>&1 || fail "vmcore-ts save --version: $(head -n 3 /tmp/version.log | tr '\\n' ' ')"; _b=$(ms)
vts save --version > /dev/null; _c=$(ms)
mark node-start "$((_b - _a)) $((_c - _b)) $(head -n 1 /tmp/version.log)"
${root ? `cold
_a=$(ms); cat /scratch/usr/bin/node > /dev/null; _b=$(ms)
vts save --version > /dev/null; _c=$(ms)
mark node-read "$((_b - _a)) $(stat -c %s /scratch/usr/bin/node) $((_c - _b))"` : ''}
i=1
while [ $i -le ${runs} ]; do
${modes}
  i=$((i + 1))
done
mark vmcore-ts-codecs "$(grep -ho 'through [^)]*' /tmp/vmcore-ts-[cl]-1.log | tr '\\n' ';')"
${o.builtinCodecs ? `mark vmcore-ts-builtin-codecs "$(grep -ho 'through [^)]*' /tmp/vmcore-ts-builtin-[cl]-1.log | tr '\\n' ';')"` : ''}
${o.profile ? profile : ''}
${o.floorBench ? floor : ''}
${
  o.codecBench
    ? `cold
vnode ${o.codecBench} > /tmp/codecs.log 2>&1 || fail "${o.codecBench}: $(tail -n 3 /tmp/codecs.log | tr '\\n' ' ')"
mark codecs "$(tail -n 1 /tmp/codecs.log)"`
    : ''
}
rm -f $OUT/vmcore
cp /tmp/*.log /scratch/capbench-logs/
${root ? 'umount /scratch/proc /scratch/dev' : ''}
mark done "${runs}"
`,
    },
    expect: ['first:crash-loaded', 'capture:boot', 'capture:node-start', 'capture:done', ...(o.profile ? ['capture:profiled'] : []), ...(o.codecBench ? ['capture:codecs'] : []), ...(o.floorBench ? ['capture:floor'] : [])],
    timeoutMs: (15 + runs * 6 * Math.ceil(memoryMiB / 1024)) * 60_000,
  };
}
