// A real arm64 kdump cycle (issue 15): Debian's arm64 cloud kernel of a suite booted in
// qemu-system-aarch64 (TCG, -M virt, 2 CPUs, crashkernel=) with Node.js and our bundle in the
// initramfs; in the guest
//   kexec-ts -p -d Image --initrd=capture.img --command-line=…   (kexec_load: no KEXEC_FILE on Debian arm64)
//   echo c >/proc/sysrq-trigger
// the capture kernel (the same Image) boots from the crash region with /proc/vmcore, runs
//   vmcore-ts save -c -d 31 /proc/vmcore /tmp/dump   and writes it to a virtio disk (raw, its size on the console)
// and powers off; the host cuts the dump out of the disk image. The capture initramfs is the first
// one's base archive (the same /init takes the capture branch when /proc/vmcore exists); the first
// kernel's initramfs is that base plus a second cpio holding the Image and the capture archive.
//
// `via: 'kexec-tools'` is the reference cycle: Debian's own arm64 kexec-tools and makedumpfile in
// the same initramfs (harness/arm64-reftools.ts), `kexec -p -d` loads the capture kernel (our
// `kexec-ts -p -d --dry-run` beside it), and the capture kernel runs makedumpfile and our save on
// kexec-tools' /proc/vmcore, each file in its own slot of the disk (ARM64_KEXEC_TOOLS_INIT).
//
// Node.js 20 and its libraries are Debian trixie's arm64 packages (downloadSuiteDebs, cached);
// koffi's arm64 binary is @koromix/koffi-linux-arm64 from `npm pack` (cached). Trixie's 6.12 on a
// CPU with LPA2 (-cpu max) oopses inside kexec_load (README): the default CPU is cortex-a72.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { CpioArchive } from '../../src/initramfs/cpio.ts';
import { addHostFile, addKernelModules, writeArchive } from '../../src/host/initramfs-collect.ts';
import { cacheDir } from './cache.ts';
import { downloadSuiteDebs, getKernel, type Kernel } from './kernels.ts';
import { REPO } from './initramfs.ts';
import { arm64ReferenceTools, REF_MAKEDUMPFILE_SUITE, type Arm64RefTools, type RefToolSuites } from './arm64-reftools.ts';
import { E2EStepError, killGroup, run, tail } from './steps.ts';

/** Node.js 20 for arm64 and what it loads (trixie; as fixtures/arm64/kexec-ts-boot.sh). */
export const ARM64_NODE_PACKAGES = ['nodejs', 'libnode115', 'libicu76', 'libssl3t64', 'libbrotli1', 'libcares2', 'libnghttp2-14', 'libuv1t64', 'libstdc++6',
  'libgcc-s1', 'libc6', 'zlib1g', 'libzstd1', 'node-acorn', 'node-cjs-module-lexer', 'node-undici', 'node-xtend', 'node-minimatch',
  'node-brace-expansion', 'node-balanced-match', 'busybox-static',
  // kdump-ts mkinitrd finds node's libraries with ldd (a bash script) and ldconfig -p
  'libc-bin', 'bash', 'libtinfo6'];
const KOFFI_ARM64 = '@koromix/koffi-linux-arm64@3.3.4';
/** Modules for the dump disk: bookworm's arm64 cloud kernel has virtio, virtio_pci and virtio_blk as modules; trixie's builds virtio_pci in. */
const DISK_MODULES = ['virtio_pci', 'virtio_blk'];
/** The busybox applets /init uses. */
const BUSYBOX_APPLETS = ['sh', 'mount', 'umount', 'insmod', 'cat', 'cp', 'mkdir', 'stat', 'date', 'sync', 'grep', 'tr', 'poweroff', 'reboot', 'halt', 'echo', 'uname', 'ls', 'head', 'tail', 'wc', 'sleep', 'dmesg', 'awk', 'chroot', 'find', 'readlink', 'blkid', 'findfs', 'kill', 'dd', 'gzip', 'base64', 'sed'];
export const ARM64_KDUMP_CPU = 'cortex-a72';
export const CRASHKERNEL = '512M';
/**
 * The kexec-tools cycle's: its capture kernel holds our Node.js userland plus the reference tools,
 * makedumpfile's dump and ours in its rootfs, a tmpfs of half its memory: at 512M, trixie's 6.12 left too little
 * room for our save in /tmp (ENOSPC after 25600 of 35318 pages).
 */
export const REF_CRASHKERNEL = '768M';
/** The capture kernel's command line (kdump-ts's defaults for one CPU and a reset of devices). */
export const CAPTURE_CMDLINE = 'console=ttyAMA0 reset_devices nr_cpus=1 panic=-1 kexec-ts=capture';

export const ARM64_KDUMP_INIT = `#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /e2e/modules); do insmod "$m" 2>/dev/null || echo "e2e: insmod $m failed"; done
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
if [ -e /proc/vmcore ]; then
  echo "e2e: capture kernel $(uname -r) cmdline [$(cat /proc/cmdline)] vmcore $(stat -c %s /proc/vmcore) bytes"
  t0=$(date +%s)
  vmcore-ts save -c -d 31 /proc/vmcore /tmp/dump 2>&1
  echo "e2e: save rc=$? in $(( $(date +%s) - t0 ))s"
  sync
  size=$(stat -c %s /tmp/dump)
  # virtio_blk probes asynchronously: without the device node a redirect would make a plain file
  n=0; while [ ! -b /dev/vda ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
  if [ -b /dev/vda ]; then cat /tmp/dump >/dev/vda && sync && echo "e2e: dump-bytes=$size"; else echo "e2e: no /dev/vda"; fi
  poweroff -f
fi
echo "e2e: first kernel $(uname -r) node $(node --version) crashkernel $(grep 'Crash kernel' /proc/iomem | tr -s ' ')"
t0=$(date +%s)
kexec-ts -p -d /kexec/Image --initrd=/kexec/capture.img --command-line="${CAPTURE_CMDLINE}" 2>&1
echo "e2e: kexec-ts -p rc=$? in $(( $(date +%s) - t0 ))s; kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
echo "=== /proc/iomem"; cat /proc/iomem
echo "=== end iomem"
echo 1 >/proc/sys/kernel/sysrq
echo "e2e: panicking"
echo c >/proc/sysrq-trigger
echo "e2e: still alive"
poweroff -f
`;

/** The disk slot of each file the capture kernel of `via: 'kexec-tools'` writes (MiB: 256 each, on the 1 GiB disk). */
export const REF_DISK_SLOT_MIB = 256;

/**
 * The /init of `via: 'kexec-tools'` (the reference dump, issue 15): Debian's arm64 kexec-tools
 * and makedumpfile (sid's, harness/arm64-reftools.ts) in the guest. First kernel: `kexec-ts -p -d
 * --dry-run` (our plan on this machine's facts, nothing loaded), then `kexec -p -d` of the same
 * Image, initrd and command line (kexec-tools' core header, purgatory and DTB), the facts a
 * fixture needs to replay both (crash_notes, vmcoreinfo, kallsyms' _text/_stext/_end, the kcore
 * headers, the DTB), sysrq-c. Capture kernel (kexec-tools' /proc/vmcore): `makedumpfile
 * --dump-dmesg`, `makedumpfile -c -d 31`, `vmcore-ts save -c -d 31`, each file written raw to its
 * own REF_DISK_SLOT_MIB slot of /dev/vda and announced as "e2e: disk-file NAME offset=O bytes=N".
 */
export const ARM64_KEXEC_TOOLS_INIT = `#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /e2e/modules); do insmod "$m" 2>/dev/null || echo "e2e: insmod $m failed"; done
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
# putfile NAME FILE SLOT: FILE raw at SLOT * ${REF_DISK_SLOT_MIB} MiB of /dev/vda
putfile() {
  n=0; while [ ! -b /dev/vda ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
  [ -b /dev/vda ] || { echo "e2e: no /dev/vda"; return; }
  [ -f "$2" ] || { echo "e2e: no $2 for $1"; return; }
  size=$(stat -c %s "$2")
  if dd if="$2" of=/dev/vda bs=1M seek=$(( $3 * ${REF_DISK_SLOT_MIB} )) 2>/dev/null && sync; then
    echo "e2e: disk-file $1 offset=$(( $3 * ${REF_DISK_SLOT_MIB} * 1048576 )) bytes=$size"
  else echo "e2e: cannot write $1 to /dev/vda"; fi
  rm -f "$2"
}
if [ -e /proc/vmcore ]; then
  echo "e2e: capture kernel $(uname -r) cmdline [$(cat /proc/cmdline)] vmcore $(stat -c %s /proc/vmcore) bytes"
  t0=$(date +%s)
  makedumpfile --dump-dmesg /proc/vmcore /tmp/makedumpfile-dmesg.txt 2>&1
  echo "e2e: makedumpfile --dump-dmesg rc=$? in $(( $(date +%s) - t0 ))s"
  putfile makedumpfile-dmesg.txt /tmp/makedumpfile-dmesg.txt 0
  t0=$(date +%s)
  makedumpfile -c -d 31 /proc/vmcore /tmp/makedumpfile.kdump 2>&1
  echo "e2e: makedumpfile -c -d 31 rc=$? in $(( $(date +%s) - t0 ))s"
  putfile makedumpfile.kdump /tmp/makedumpfile.kdump 1
  echo "e2e: before our save: $(grep MemAvailable /proc/meminfo | tr -s ' ')"
  t0=$(date +%s)
  vmcore-ts save -c -d 31 /proc/vmcore /tmp/vmcore-ts.kdump 2>&1
  echo "e2e: save rc=$? in $(( $(date +%s) - t0 ))s"
  putfile vmcore-ts.kdump /tmp/vmcore-ts.kdump 2
  echo "e2e: capture done"
  poweroff -f
fi
echo "e2e: first kernel $(uname -r) node $(node --version) crashkernel $(grep 'Crash kernel' /proc/iomem | tr -s ' ')"
echo "e2e: reference tools: $(kexec --version 2>&1 | head -1); $(makedumpfile -v 2>&1 | head -1)"
t0=$(date +%s)
kexec-ts -p -d --dry-run --dtb=/sys/firmware/fdt /kexec/Image --initrd=/kexec/capture.img --command-line="${CAPTURE_CMDLINE}" >/tmp/dry-run.txt 2>&1
rc=$?
cat /tmp/dry-run.txt
echo "e2e: kexec-ts -p --dry-run rc=$rc in $(( $(date +%s) - t0 ))s"
# Debian's arm64 kernels have no KALLSYMS_ALL: /proc/kallsyms lacks _text, and kexec-tools then writes
# a kernel text PT_LOAD of p_vaddr -1 and p_filesz _end (a 16 EiB /proc/vmcore). Give it a copy with
# _text = the kernel text address /proc/kcore states (KCORE_TEXT, as our dry run read it).
if ! grep -q ' _text$' /proc/kallsyms; then
  text=$(sed -n 's/^Kernel text Elf header: .* p_vaddr = 0x\\([0-9a-f]*\\) .*/\\1/p' /tmp/dry-run.txt)
  { echo "$text T _text"; cat /proc/kallsyms; } >/tmp/kallsyms
  mount --bind /tmp/kallsyms /proc/kallsyms && echo "e2e: kallsyms for kexec-tools: _text $text (from /proc/kcore) added"
fi
echo "=== kexec -p -d"
t0=$(date +%s)
kexec -p -d /kexec/Image --initrd=/kexec/capture.img --command-line="${CAPTURE_CMDLINE}" 2>&1
echo "e2e: kexec -p rc=$? in $(( $(date +%s) - t0 ))s; kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
umount /proc/kallsyms 2>/dev/null
echo "=== /proc/iomem"; cat /proc/iomem
echo "=== end iomem"
echo "=== facts"
for c in /sys/devices/system/cpu/cpu[0-9]*; do echo "$c crash_notes $(cat $c/crash_notes) $(cat $c/crash_notes_size)"; done
echo "/sys/kernel/vmcoreinfo $(cat /sys/kernel/vmcoreinfo)"
grep -E ' (_text|_stext|_end)$' /proc/kallsyms
echo "=== /proc/kcore head (gzip, base64)"
dd if=/proc/kcore bs=4096 count=1 2>/dev/null | gzip -9 | base64
echo "=== /sys/firmware/fdt (gzip, base64)"
gzip -9 -c /sys/firmware/fdt | base64
echo "=== end facts"
echo 1 >/proc/sys/kernel/sysrq
echo "e2e: panicking"
echo c >/proc/sysrq-trigger
echo "e2e: still alive"
poweroff -f
`;

/**
 * The first kernel's /init for `via: 'kdump-ts'`: the dump disk (ext4, made on the host) on
 * /var/crash, the Image as /boot/vmlinuz-RELEASE, then the service's own steps: `kdump-ts mkinitrd`
 * (its capture initramfs: busybox, this node and its libraries, the bundle, virtio_blk), `estimate`,
 * `load`, `status`, and sysrq-c; kdump-ts's capture /init saves to /var/crash/DATE/vmcore.
 */
export const ARM64_KDUMP_TS_INIT = `#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /e2e/modules); do insmod "$m" 2>/dev/null || echo "e2e: insmod $m failed"; done
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
n=0; while [ ! -b /dev/vda ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
mkdir -p /var/crash /boot /etc /run /var/lib/kdump-ts
mount -t ext4 /dev/vda /var/crash || echo "e2e: cannot mount /dev/vda"
cp /kexec/Image /boot/vmlinuz-$(uname -r)
printf 'after = poweroff\nfailure_action = poweroff\n' >/etc/kdump-ts.conf
echo "e2e: first kernel $(uname -r) node $(node --version) crashkernel $(grep 'Crash kernel' /proc/iomem | tr -s ' ')"
t0=$(date +%s)
kdump-ts mkinitrd 2>&1
echo "e2e: kdump-ts mkinitrd rc=$? in $(( $(date +%s) - t0 ))s"
kdump-ts estimate 2>&1
echo "e2e: kdump-ts estimate rc=$?"
t0=$(date +%s)
kdump-ts load 2>&1
echo "e2e: kdump-ts load rc=$? in $(( $(date +%s) - t0 ))s; kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
kdump-ts status 2>&1
echo "e2e: kdump-ts status rc=$?"
echo "=== /proc/iomem"; cat /proc/iomem
echo "=== end iomem"
sync
echo 1 >/proc/sys/kernel/sysrq
echo "e2e: panicking"
echo c >/proc/sysrq-trigger
echo "e2e: still alive"
poweroff -f
`;

/** The arm64 userland (Node 20, busybox, ldd) unpacked once: cache/initramfs/arm64-node-SUITE-KEY. */
async function arm64Userland(suite: string, log: (s: string) => void): Promise<string> {
  const key = createHash('sha256').update(ARM64_NODE_PACKAGES.join(' ')).digest('hex').slice(0, 8);
  const out = join(cacheDir('initramfs'), `arm64-node-${suite}-${key}`);
  if (existsSync(join(out, 'usr/bin/node'))) return out;
  const debs = await downloadSuiteDebs(suite, ARM64_NODE_PACKAGES, log, 'arm64');
  const tmp = mkdtempSync(`${out}.tmp-`);
  try {
    for (const d of debs) await run('unpack', 'dpkg-deb', ['-x', d, tmp], { timeoutMs: 120_000 });
    for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/lintian']) rmSync(join(tmp, d), { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return out;
}

/** koffi's arm64 binary package, unpacked once: cache/npm/koffi-linux-arm64. */
async function koffiArm64(log: (s: string) => void): Promise<string> {
  const out = join(cacheDir('npm'), 'koffi-linux-arm64-3.3.4');
  if (existsSync(join(out, 'package.json'))) return out;
  log(`npm pack ${KOFFI_ARM64}`);
  const dir = cacheDir('npm');
  const r = await run('npm', 'npm', ['pack', '-q', KOFFI_ARM64], { cwd: dir, timeoutMs: 5 * 60_000 });
  const tgz = join(dir, r.stdout.trim().split('\n').pop()!);
  mkdirSync(out, { recursive: true });
  await run('unpack', 'tar', ['-xzf', tgz, '-C', out, '--strip-components=1'], { timeoutMs: 60_000 });
  return out;
}

/** Adds a host directory tree at `as` (symlinks kept as symlinks). */
function addTree(a: CpioArchive, dir: string, as: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const to = as ? `${as}/${e.name}` : e.name;
    if (e.isSymbolicLink()) a.symlink(to, execFileSync('readlink', [p], { encoding: 'utf8' }).trim());
    else if (e.isDirectory()) {
      a.dir(to);
      addTree(a, p, to);
    } else if (e.isFile()) addHostFile(a, p, to);
  }
}

/** The base archive: merged-/usr userland, busybox applets, the bundle, the disk modules and /init. */
async function baseArchive(k: Kernel, userland: string, koffi: string, out: string, init: string, ref?: Arm64RefTools): Promise<void> {
  const a = new CpioArchive();
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'e2e', 'kexec', 'usr', 'usr/local/bin']) a.dir(d);
  a.add({ type: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  // trixie's packages are merged-/usr already except for a few: put every top-level bin/lib under usr
  for (const top of readdirSync(userland)) {
    const p = join(userland, top);
    if (top === 'usr') addTree(a, p, 'usr');
    else if (['bin', 'sbin', 'lib'].includes(top)) addTree(a, p, `usr/${top}`);
  }
  a.symlink('bin', 'usr/bin');
  a.symlink('sbin', 'usr/sbin');
  // /lib stays a directory (the kernel modules go under it): the loader and the library directory as links
  a.dir('lib');
  a.symlink('lib/ld-linux-aarch64.so.1', '../usr/lib/ld-linux-aarch64.so.1');
  a.symlink('lib/aarch64-linux-gnu', '../usr/lib/aarch64-linux-gnu');
  const busybox = a.has('usr/bin/busybox') ? 'busybox' : '../sbin/busybox';
  for (const applet of BUSYBOX_APPLETS) if (!a.has(`usr/bin/${applet}`)) a.symlink(`usr/bin/${applet}`, busybox);
  // the bundle
  const root = 'opt/kexec-ts';
  const dist = join(REPO, 'dist');
  if (!existsSync(join(dist, 'purgatory-arm64.o'))) throw new E2EStepError('initramfs', 'dist/ has no arm64 purgatory', 'run: node scripts/build.mjs');
  for (const e of readdirSync(dist, { withFileTypes: true })) if (e.isFile() && !e.name.endsWith('.map')) addHostFile(a, join(dist, e.name), `${root}/dist/${e.name}`);
  for (const f of readdirSync(join(REPO, 'bin'))) addHostFile(a, join(REPO, 'bin', f), `${root}/bin/${f}`, 0o755);
  addHostFile(a, join(REPO, 'package.json'), `${root}/package.json`);
  const koffiDir = join(REPO, 'node_modules', 'koffi');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && (e.name === 'vendor' || e.name === 'doc')) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) addHostFile(a, p, `${root}/node_modules/koffi/${relative(koffiDir, p)}`);
    }
  };
  walk(koffiDir);
  addTree(a, koffi, `${root}/node_modules/@koromix/koffi-linux-arm64`);
  for (const cmd of ['kexec-ts', 'kdump-ts', 'vmcore-ts']) a.file(`usr/local/bin/${cmd}`, `#!/bin/sh\nexec /usr/bin/node /${root}/bin/${cmd}.mjs "$@"\n`, 0o755);
  if (ref) {
    // Debian's kexec and makedumpfile, and the libraries the userland lacks where the arm64 ld.so looks (named by soname)
    addHostFile(a, ref.kexec, 'usr/sbin/kexec', 0o755);
    addHostFile(a, ref.makedumpfile, 'usr/sbin/makedumpfile', 0o755);
    for (const lib of ref.libraries) if (lib.from !== 'userland') addHostFile(a, lib.path, `usr/lib/aarch64-linux-gnu/${lib.soname}`, 0o644);
  }
  const order = addKernelModules(a, k.modulesDir, k.release, DISK_MODULES);
  a.file('e2e/modules', order.map((p) => '/' + p).join('\n') + '\n');
  a.file('init', init, 0o755);
  await writeArchive(a.encode(), out);
}

export interface Arm64KdumpRun {
  suite: string;
  /** who loaded the capture kernel: kexec-ts -p, the kdump-ts service (mkinitrd, load), or Debian's kexec-tools (`kexec -p`, the reference dump) */
  via: 'kexec-ts' | 'kdump-ts' | 'kexec-tools';
  release: string;
  version: string;
  cpu: string;
  /** the dump vmcore-ts save wrote in the capture kernel (kdump-compressed, zlib, -d 31) */
  dump: string;
  console: string;
  /** the `kexec-ts -p -d` output in the guest (via kexec-tools: `kexec-ts -p -d --dry-run`) */
  kexecDebug: string;
  /** via kexec-tools: what it ran and wrote (files cut out of the disk by name: makedumpfile.kdump, makedumpfile-dmesg.txt, vmcore-ts.kdump) */
  reference?: {
    versions: { kexecTools: string; makedumpfile: string };
    suites: RefToolSuites;
    /** the libraries put in the initramfs, "soname <- package" */
    libraries: string[];
    /** the `kexec -p -d` output */
    kexecDebug: string;
    /** crash_notes, vmcoreinfo, kallsyms lines, the kcore head and DTB (gzip+base64) as the guest printed them */
    facts: string;
    files: Record<string, string>;
  };
  /** the guest's /proc/iomem */
  iomem: string;
  /** wall time of the QEMU run (both kernels), and of preparing the initramfs */
  qemuSeconds: number;
  prepareSeconds: number;
  made: string;
}

/** `size` bytes at `offset` of the disk image into `to`. */
function cutOut(disk: string, offset: number, size: number, to: string): void {
  const fd = openSync(disk, 'r');
  const outFd = openSync(to, 'w');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let off = 0; off < size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - off), offset + off);
      if (n <= 0) throw new E2EStepError('kdump', `the disk image ends at ${offset + off}, ${to} has ${size} bytes from ${offset}`);
      writeSync(outFd, buf, 0, n);
      off += n;
    }
  } finally {
    closeSync(fd);
    closeSync(outFd);
  }
}

/** Boots, crashes, captures; the dump and logs go to `outDir`. */
export async function arm64KdumpCycle(suite: string, outDir: string, log: (s: string) => void = () => {}, cpu = ARM64_KDUMP_CPU, via: Arm64KdumpRun['via'] = 'kexec-ts', timeoutMs = 20 * 60_000, refSuites: RefToolSuites = { kexecTools: suite, makedumpfile: REF_MAKEDUMPFILE_SUITE }): Promise<Arm64KdumpRun> {
  const t0 = Date.now();
  const k = await getKernel(suite, log, 'arm64');
  const userland = await arm64Userland('trixie', log);
  const koffi = await koffiArm64(log);
  const ref = via === 'kexec-tools' ? await arm64ReferenceTools(userland, ARM64_NODE_PACKAGES, refSuites, log) : undefined;
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, 'work-'));
  try {
    const base = join(work, 'base.cpio.gz');
    const init = { 'kexec-ts': ARM64_KDUMP_INIT, 'kdump-ts': ARM64_KDUMP_TS_INIT, 'kexec-tools': ARM64_KEXEC_TOOLS_INIT }[via];
    await baseArchive(k, userland, koffi, base, init, ref);
    const extra = new CpioArchive();
    extra.dir('kexec');
    addHostFile(extra, k.vmlinuz, 'kexec/Image');
    if (via !== 'kdump-ts') addHostFile(extra, base, 'kexec/capture.img');
    const extraFile = join(work, 'extra.cpio.gz');
    await writeArchive(extra.encode(), extraFile);
    const initrd = join(work, 'initrd.gz');
    writeFileSync(initrd, Buffer.concat([readFileSync(base), readFileSync(extraFile)]));
    const disk = join(work, 'disk.img');
    writeFileSync(disk, '');
    execFileSync('truncate', ['-s', '1G', disk]);
    if (via === 'kdump-ts') execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'crash', disk]);
    const prepareSeconds = (Date.now() - t0) / 1000;
    log(`initramfs: base ${statSync(base).size} bytes, first kernel's ${statSync(initrd).size} bytes (${prepareSeconds.toFixed(0)} s)`);

    const consolePath = join(outDir, 'console.log');
    const args = ['-M', 'virt', '-cpu', cpu, '-m', '1536', '-smp', '2', '-display', 'none', '-no-reboot', '-nic', 'none',
      '-serial', `file:${consolePath}`, '-monitor', 'none',
      '-drive', `file=${disk},format=raw,if=none,id=dump`, '-device', 'virtio-blk-pci,drive=dump',
      '-kernel', k.vmlinuz, '-initrd', initrd, '-append', `console=ttyAMA0 crashkernel=${via === 'kexec-tools' ? REF_CRASHKERNEL : CRASHKERNEL} panic=-1`];
    log(`qemu-system-aarch64 ${args.join(' ')}`);
    const q0 = Date.now();
    const qemu = spawn('qemu-system-aarch64', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const release = () => killGroup(qemu.pid);
    process.once('exit', release);
    const consoleText = () => (existsSync(consolePath) ? readFileSync(consolePath, 'latin1').replace(/\r/g, '') : '');
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new E2EStepError('kdump', `the arm64 kdump cycle did not end within ${timeoutMs / 1000} s`, tail(consoleText(), 40))), timeoutMs);
        qemu.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } finally {
      release();
      process.off('exit', release);
    }
    const qemuSeconds = (Date.now() - q0) / 1000;
    const text = consoleText();
    const dump = join(outDir, 'dump.kdump');
    const files: Record<string, string> = {};
    if (via === 'kexec-tools') {
      // The capture kernel wrote each file raw at its slot and said where: cut them out.
      for (const m of text.matchAll(/^e2e: disk-file (\S+) offset=(\d+) bytes=(\d+)$/gm)) {
        files[m[1]!] = join(outDir, m[1]!);
        cutOut(disk, Number(m[2]), Number(m[3]), files[m[1]!]!);
      }
      // makedumpfile's files may be missing (it refuses some kernels: the test says which); our save may not
      if (!files['vmcore-ts.kdump']) throw new E2EStepError('kdump', 'the capture kernel wrote no vmcore-ts.kdump', tail(stderr + text, 60));
      copyFileSync(files['vmcore-ts.kdump']!, dump);
    } else if (via === 'kdump-ts') {
      // kdump-ts's capture wrote /var/crash/DATE/vmcore on the ext4 disk: read it with debugfs.
      const saved = /kdump-ts: saved (\/mnt\/target\/\S+)\/vmcore/.exec(text);
      if (!saved) throw new E2EStepError('kdump', 'kdump-ts\'s capture saved no dump', tail(stderr + text, 60));
      const dir = saved[1]!.slice('/mnt/target'.length);
      for (const f of ['vmcore', 'dmesg.txt']) execFileSync('debugfs', ['-R', `dump ${dir}/${f} ${f === 'vmcore' ? dump : join(outDir, 'capture-dmesg.txt')}`, disk], { stdio: 'ignore' });
    } else {
      const m = /e2e: dump-bytes=(\d+)/.exec(text);
      if (!m) throw new E2EStepError('kdump', 'the capture kernel wrote no dump', tail(stderr + text, 60));
      cutOut(disk, 0, Number(m[1]), dump);
    }
    const section = (from: RegExp, to: RegExp) => {
      const a = text.search(from);
      if (a < 0) return '';
      const rest = text.slice(a);
      const b = rest.search(to);
      return b < 0 ? rest : rest.slice(0, b);
    };
    const kexecDebug = section(/^e2e: first kernel/m, /^e2e: (kexec-ts -p|kdump-ts load) (--dry-run )?rc=/m);
    const iomem = section(/^=== \/proc\/iomem\n/m, /^=== end iomem/m).replace(/^=== \/proc\/iomem\n/, '');
    const reference: Arm64KdumpRun['reference'] = ref && {
      versions: ref.versions,
      suites: ref.suites,
      libraries: ref.libraries.map((l) => `${l.soname} <- ${l.from}`),
      kexecDebug: section(/^=== kexec -p -d\n/m, /^e2e: kexec -p rc=/m).replace(/^=== kexec -p -d\n/, ''),
      facts: section(/^=== facts\n/m, /^=== end facts/m).replace(/^=== facts\n/, ''),
      files,
    };
    const r: Arm64KdumpRun = { suite, via, release: k.release, version: k.version, cpu, dump, console: consolePath, kexecDebug, iomem, ...(reference ? { reference } : {}), qemuSeconds, prepareSeconds, made: new Date().toISOString() };
    writeFileSync(join(outDir, 'run.json'), JSON.stringify(r, null, 1) + '\n');
    return r;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
