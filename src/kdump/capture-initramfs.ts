// What goes into the capture initramfs (kdump-ts mkinitrd): its skeleton (directories, device
// nodes, busybox applets), where the bundle, Node and the native codecs go, which kernel modules it
// needs, and the /init that mounts the target, runs `vmcore-ts save` and reboots. Pure: the host
// (src/host/kdump-initramfs.ts) adds the files it reads from the machine.
import { KexecError } from '../errors.ts';
import { NODE_FLAGS } from '../node-args.ts';
import type { CpioArchive } from '../initramfs/cpio.ts';
import { saveArgs, type KdumpConfig } from './config.ts';
import { NETWORK_FSTYPES, type CaptureNet, type DumpTarget, type S3Capture, type SshCapture } from './dump-target.ts';
import { captureModeLine, type CaptureMode } from './capture-mode.ts';

/** Where things go inside the capture initramfs. */
export const INITRAMFS_BUNDLE = '/kdump-ts/vmcore-ts.mjs';
export const INITRAMFS_NODE = '/usr/bin/node';
/** The kernel release the capture initramfs was built for (its modules' release). */
export const INITRAMFS_RELEASE = 'etc/kdump-ts.release';
/** The capture mode it was built in (captureModeLine). */
export const CAPTURE_MODE_FILE = 'etc/kdump-ts.capture';
/** The C libraries vmcore-ts save compresses pages with when it can load them (native codecs through koffi). */
export const NATIVE_CODEC_LIBS = ['libdeflate.so.0', 'liblzo2.so.2'];
/**
 * Bundles in dist/ the capture kernel does not need: the other CLIs (it only runs vmcore-ts), the
 * library entry and `vmcore-ts run`'s TypeScript hooks, and the S3 worker (the AWS SDK, 1.4 MB) as
 * long as the kdump configuration has no S3 target.
 */
const BUNDLES_NOT_NEEDED = new Set(['kexec-ts.mjs', 'kdump-ts.mjs', 'api.mjs', 'ts-hooks.mjs', 's3-worker.mjs']);
const BUSYBOX_APPLETS = ['sh', 'mount', 'umount', 'mkdir', 'insmod', 'sleep', 'reboot', 'poweroff', 'halt', 'findfs', 'cat', 'echo', 'sync', 'date', 'ls', 'df', 'dmesg', 'free', 'grep', 'stat', 'tr', 'awk', 'kill', 'chroot', 'od', 'ip', 'udhcpc'];

export interface InitScriptOptions {
  target: DumpTarget;
  /** Module paths inside the archive, in load order. */
  modules: string[];
  /** `vmcore-ts save` flags (compression, dump level). */
  saveArgs: string[];
  after: KdumpConfig['after'];
  /** capture = root: the root file system to run node from; initramfs mode runs INITRAMFS_NODE. */
  mode: CaptureMode;
  /** When the save fails (default: `after`). */
  failureAction?: KdumpConfig['after'];
  /** An NFS target's mount options and attempts. */
  nfs?: { options: string; attempts: number };
  /** Triage first: the collector (its network is the target's, or this one). */
  collector?: { url: string; token: string; ca?: string; host?: string; network: CaptureNet };
}

/**
 * The /init's device lookup (busybox sh; $sys and $devdir are /sys and /dev, other trees in tests).
 * resolve_dev SPEC prints the device node a canonical spec (deviceSpecText) names, or nothing while
 * no such device is there: UUID= and LABEL= through findfs; PARTLABEL= by the PARTNAME the kernel
 * puts in each partition's uevent; PARTUUID= from the partition tables themselves (the kernel
 * does not export it: a GPT entry's unique GUID, or the MBR disk signature and partition number
 * SSSSSSSS-PP), with /PARTNROFF=N; MAJ:MIN by each device's dev file.
 * wait_dev SPEC WHAT sets $d, waiting up to $wait_s seconds, else logs one line and exits 1.
 */
export const DEVICE_LOOKUP = `# uevent DIR KEY: the value of KEY in a block device's uevent.
uevent() { awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$1/uevent" 2>/dev/null; }
# blockdevs: the sysfs directory of every disk and partition.
blockdevs() { local s p; for s in "$sys"/block/*; do [ -e "$s/uevent" ] && echo "$s"; for p in "$s"/*/partition; do [ -e "$p" ] && echo "\${p%/partition}"; done; done; }
# partnum DISK ID: the number of DISK's partition whose PARTUUID is ID (GPT, else MBR).
partnum() {
  local bs gpt
  bs=$(cat "$sys/block/\${1##*/}/queue/logical_block_size" 2>/dev/null) || bs=512
  gpt=$(od -A n -t x1 -v -j "$bs" -N 92 "$1" 2>/dev/null | awk -v bs="$bs" '
    function h(s) { return (index("0123456789abcdef", substr(s, 1, 1)) - 1) * 16 + index("0123456789abcdef", substr(s, 2, 1)) - 1 }
    function le(o, k,  v, i) { v = 0; for (i = o + k - 1; i >= o; i--) v = v * 256 + h(b[i]); return v }
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END { if (n == 92 && b[0] b[1] b[2] b[3] b[4] b[5] b[6] b[7] == "4546492050415254" && le(80, 4) * le(84, 4) <= 1048576 && le(84, 4) >= 32) print le(72, 8) * bs, le(80, 4) * le(84, 4), le(84, 4) }')
  if [ -n "$gpt" ]; then
    set -- "$1" "$2" $gpt
    od -A n -t x1 -v -j "$3" -N "$4" "$1" 2>/dev/null | awk -v size="$5" -v want="$2" '
      { for (i = 1; i <= NF; i++) b[n++] = $i }
      END { for (p = 0; (p + 1) * size <= n; p++) { o = p * size + 16
        g = b[o+3] b[o+2] b[o+1] b[o] "-" b[o+5] b[o+4] "-" b[o+7] b[o+6] "-" b[o+8] b[o+9] "-" b[o+10] b[o+11] b[o+12] b[o+13] b[o+14] b[o+15]
        if (g == want) { print p + 1; exit } } }'
  else
    case "$2" in ????????-??) ;; *) return ;; esac
    [ "$(od -A n -t x1 -v -j 510 -N 2 "$1" 2>/dev/null | tr -d ' \\n')" = 55aa ] || return
    [ "$(od -A n -t x1 -v -j 440 -N 4 "$1" 2>/dev/null | awk '{ print $4 $3 $2 $1 }')" = "\${2%-*}" ] && echo $((0x\${2#*-}))
  fi
}
# resolve_dev SPEC: the device node SPEC names, or nothing.
resolve_dev() {
  local s p n id off
  case "$1" in
  UUID=*|LABEL=*) findfs "$1" 2>/dev/null ;;
  PARTLABEL=*) for s in $(blockdevs); do [ "$(uevent "$s" PARTNAME)" = "\${1#PARTLABEL=}" ] && { echo "$devdir/$(uevent "$s" DEVNAME)"; return; }; done ;;
  PARTUUID=*)
    id=\${1#PARTUUID=}; off=0
    case "$id" in */PARTNROFF=*) off=\${id##*=}; id=\${id%%/*} ;; esac
    for s in "$sys"/block/*; do
      n=$(partnum "$devdir/$(uevent "$s" DEVNAME)" "$id")
      [ -n "$n" ] || continue
      for p in "$s"/*/partition; do
        [ -e "$p" ] && [ "$(cat "$p")" = $((n + off)) ] && { echo "$devdir/$(uevent "\${p%/partition}" DEVNAME)"; return; }
      done
    done ;;
  [0-9]*:[0-9]*) for s in $(blockdevs); do [ "$(cat "$s/dev" 2>/dev/null)" = "$1" ] && { echo "$devdir/$(uevent "$s" DEVNAME)"; return; }; done ;;
  *) echo "$1" ;;
  esac
}
# wait_dev SPEC WHAT: $d = SPEC's block device, once it is there.
wait_dev() {
  i=0
  while :; do
    d=$(resolve_dev "$1")
    [ -n "$d" ] && [ -b "$d" ] && return
    i=$((i + 1))
    [ $i -ge $wait_s ] && { log "$2 $1 not found after $wait_s s (block devices: $(ls "$sys/class/block" 2>/dev/null | tr '\\n' ' '))"; exit 1; }
    sleep 1
  done
}
`;

/** Waits for a device named by a canonical spec into $d. */
function findDevice(spec: string, what: string): string {
  return `wait_dev ${shQuote(spec)} ${shQuote(what)}`;
}

/**
 * The shell lines that define run (vmcore-ts under node) and $cdir (the dump directory as it
 * sees it). Root mode: the root file system at /mnt/root read-only (or the target's mount when it
 * is the same device, read-write), proc and devtmpfs inside it, the target bound on its /mnt, and
 * node chrooted there: its pages come from the disk, not from tmpfs.
 */
function saverSetup(mode: CaptureMode): string {
  if (mode.mode === 'initramfs') return `run() { node ${NODE_FLAGS} ${INITRAMFS_BUNDLE} "$@"; }
cdir=$dir`;
  const r = mode.root;
  return `tdev=$d
${findDevice(r.device, 'root file system')}
if [ "$d" = "$tdev" ]; then
  rootdir=/mnt/target
  cdir=\${dir#/mnt/target}
else
  mkdir -p /mnt/root
  mount -o ro -t ${shQuote(r.fstype)} "$d" /mnt/root || { log "cannot mount the root file system $d (${r.fstype}) read-only"; exit 1; }
  rootdir=/mnt/root
  mount -o bind /mnt/target /mnt/root/mnt || { log "cannot bind the dump target on /mnt of the root file system"; exit 1; }
  cdir=/mnt\${dir#/mnt/target}
fi
mount -t proc proc "$rootdir/proc" && mount -t devtmpfs devtmpfs "$rootdir/dev" || { log "cannot mount /proc and /dev in the root file system $d"; exit 1; }
[ -x "$rootdir"${shQuote(mode.node)} ] || { log "${mode.node} not found on the root file system $d"; exit 1; }
log "running node from the root file system $d (${r.fstype})"
run() { chroot "$rootdir" ${shQuote(mode.node)} ${NODE_FLAGS} ${shQuote(mode.bundle)} "$@"; }`;
}

/** Unmounts what saverSetup mounted. */
function saverTeardown(mode: CaptureMode): string {
  return mode.mode === 'initramfs' ? '' : `umount "$rootdir/dev" "$rootdir/proc"; [ "$rootdir" = /mnt/root ] && { umount /mnt/root/mnt; umount /mnt/root; }
`;
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The udhcpc script the capture /init brings an interface up with (busybox udhcpc's environment). */
export const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/\${mask:-24}" dev "$interface"
  [ -n "$router" ] && ip route add default via "\${router%% *}" dev "$interface"
  : > /etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
  ;;
esac
exit 0
`;
export const UDHCPC_SCRIPT_PATH = 'etc/kdump-ts/udhcpc.sh';
/** Attempts of a save over ssh or to S3; each resumes from the chunks (parts) already stored. */
export const SSH_SAVE_ATTEMPTS = 3;

/** The network part of /init: find the interface (by MAC or name), bring it up by DHCP or statically. */
function networkUp(ssh: CaptureNet): string {
  const mac = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(ssh.netDevice);
  const find = mac
    ? `for n in "$sys"/class/net/*; do [ "$(cat "$n/address" 2>/dev/null)" = ${shQuote(ssh.netDevice.toLowerCase())} ] && ifc=\${n##*/}; done`
    : `[ -e "$sys/class/net/"${shQuote(ssh.netDevice)} ] && ifc=${shQuote(ssh.netDevice)}`;
  const up =
    ssh.net === 'dhcp'
      ? `udhcpc -i "$ifc" -n -q -t 10 -T 2 -s /${UDHCPC_SCRIPT_PATH} >/dev/null 2>&1 || { log "no DHCP answer on $ifc"; exit 1; }`
      : `ip addr add ${shQuote(ssh.net.address)} dev "$ifc" && ip route add default via ${shQuote(ssh.net.gateway)} || { log "cannot set ${ssh.net.address} via ${ssh.net.gateway} on $ifc"; exit 1; }`;
  return `ifc= i=0
while :; do
  ${find}
  [ -n "$ifc" ] && break
  i=$((i + 1))
  [ $i -ge $wait_s ] && { log "network interface ${ssh.netDevice} not found after $wait_s s (interfaces: $(ls "$sys/class/net" | tr '\n' ' '))"; exit 1; }
  sleep 1
done
ip link set lo up
ip link set "$ifc" up
${up}
log "network: $ifc $(ip -4 addr show dev "$ifc" | awk '/inet / { print $2 }')"
`;
}

/**
 * Root mode for an ssh target: the root file system read-only at /mnt/root (with /proc, /dev, a
 * tmpfs /run for the save's state and /tmp), this initramfs's /etc/hosts over its own, node chrooted.
 */
function sshSaverSetup(mode: CaptureMode): string {
  if (mode.mode === 'initramfs') return `run() { node ${NODE_FLAGS} ${INITRAMFS_BUNDLE} "$@"; }`;
  const r = mode.root;
  return `${findDevice(r.device, 'root file system')}
mkdir -p /mnt/root
mount -o ro -t ${shQuote(r.fstype)} "$d" /mnt/root || { log "cannot mount the root file system $d (${r.fstype}) read-only"; exit 1; }
rootdir=/mnt/root
mount -t proc proc "$rootdir/proc" && mount -t devtmpfs devtmpfs "$rootdir/dev" && mount -t tmpfs tmpfs "$rootdir/run" && mount -t tmpfs tmpfs "$rootdir/tmp" || { log "cannot mount /proc, /dev, /run and /tmp in the root file system $d"; exit 1; }
mount -o bind /etc/hosts "$rootdir/etc/hosts" 2>/dev/null || log "cannot put the capture's /etc/hosts over the root file system's"
[ -x "$rootdir"${shQuote(mode.node)} ] || { log "${mode.node} not found on the root file system $d"; exit 1; }
log "running node from the root file system $d (${r.fstype})"
run() { chroot "$rootdir" ${shQuote(mode.node)} ${NODE_FLAGS} ${shQuote(mode.bundle)} "$@"; }`;
}

/** The capture initramfs's /init (busybox sh). Every message starts with "kdump-ts:". */
export function initScript(o: InitScriptOptions): string {
  const action = (a: KdumpConfig['after']) => ({ reboot: 'reboot -f', poweroff: 'poweroff -f', halt: 'halt -f', shell: 'exec sh' })[a];
  const failure = o.failureAction ?? o.after;
  const finish =
    failure === o.after
      ? `finish() { sync; log "done (${o.after})"; ${action(o.after)}; }`
      : `finish() { st=$?; sync; if [ $st -eq 0 ]; then log "done (${o.after})"; ${action(o.after)}; else log "failed (${failure})"; ${action(failure)}; fi; }`;
  const head = `#!/bin/sh
# kdump-ts capture initramfs /init: save /proc/vmcore to the dump target, then ${o.after}${failure !== o.after ? ` (${failure} when that fails)` : ''}.
export PATH=/bin:/usr/bin
# Debian's node warns at every start when its default extra CA file is missing; no TLS here.
export NODE_EXTRA_CA_CERTS=
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
log() { echo "kdump-ts: $*"; }
sys=/sys devdir=/dev wait_s=30
${DEVICE_LOOKUP}${finish}
trap finish EXIT
[ -e /proc/vmcore ] || { log "no /proc/vmcore: this is not a capture kernel"; exit 1; }
for m in ${o.modules.map(shQuote).join(' ')}; do insmod "/$m" 2>/dev/null || log "insmod $m failed (built in?)"; done
`;
  const net = o.collector?.network ?? o.target.network;
  const prelude = head + (net ? networkUp(net) : '') + (o.collector ? triage(o.collector, o.saveArgs) : '');
  if (o.target.ssh) return prelude + sshSave(o.target.ssh, o);
  if (o.target.s3) return prelude + s3Save(o.target.s3, o);
  return `${prelude}${mountTarget(o.target, o.nfs)}
dir=/mnt/target${o.target.dir === '/' ? '' : shQuote(o.target.dir)}/$(date +%Y%m%d-%H%M%S)
mkdir -p "$dir" || { log "cannot create $dir"; exit 1; }
log "saving /proc/vmcore ($(stat -c %s /proc/vmcore) bytes) to $d:\${dir#/mnt/target}; memory: $(grep -E '^Mem(Total|Available):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
${saverSetup(o.mode)}
run save --dump-dmesg /proc/vmcore "$cdir/dmesg.txt" || log "dmesg extraction failed"
# MemAvailable sampled each second: its low-water mark is the headroom crashkernel= had.
( while :; do grep MemAvailable /proc/meminfo; sleep 1; done > /tmp/mem.log ) &
sampler=$!
run save ${o.saveArgs.join(' ')} /proc/vmcore "$cdir/vmcore"
rc=$?
kill $sampler
echo "$rc" > "$dir/save-exit-code"
[ $rc -eq 0 ] && log "saved $dir/vmcore" || log "vmcore-ts save failed with exit code $rc"
log "lowest MemAvailable during the save: $(awk 'NR == 1 || $2 < m { m = $2 } END { print m }' /tmp/mem.log) kB"
${saverTeardown(o.mode)}umount /mnt/target
exit $rc
`;
}

/**
 * Mounts the dump target on /mnt/target: a block device once it is there, or an NFS export (the
 * server by the address resolved when the initramfs was built), tried `nfs.attempts` times.
 */
function mountTarget(t: DumpTarget, nfs: InitScriptOptions['nfs']): string {
  if (!NETWORK_FSTYPES.has(t.fstype)) {
    return `${findDevice(t.device, 'dump target')}
mkdir -p /mnt/target
mount -t ${shQuote(t.fstype)} "$d" /mnt/target || { log "cannot mount $d (${t.fstype})"; exit 1; }`;
  }
  const server = t.device.slice(0, t.device.indexOf(':'));
  const address = t.network?.hosts.find((h) => h.name === server)?.address ?? server;
  const options = [`addr=${address}`, nfs?.options].filter(Boolean).join(',');
  const attempts = nfs?.attempts ?? 3;
  return `mkdir -p /mnt/target
d=${shQuote(t.device)}
n=0
until mount -t ${shQuote(t.fstype)} -o ${shQuote(options)} "$d" /mnt/target; do
  n=$((n + 1))
  [ $n -ge ${attempts} ] && { log "cannot mount $d (${t.fstype}, ${options}) after ${attempts} attempts"; exit 1; }
  log "mounting $d failed (attempt $n of ${attempts}); again in 5 s"
  sleep 5
done`;
}

/**
 * Triage first: `vmcore-ts triage` sends the signature and log; a known crash ends there (exit 0),
 * a wanted dump goes to the URL the collector gives (save --to, resumable), and without an answer
 * (or when that upload fails) the save goes on to the configured target.
 */
function triage(c: NonNullable<InitScriptOptions['collector']>, saveArgs: string[]): string {
  const auth = ['--token-file', shQuote(c.token), ...(c.ca ? ['--ca', shQuote(c.ca)] : [])].join(' ');
  return `url=$(node ${NODE_FLAGS} ${INITRAMFS_BUNDLE} triage --collector ${shQuote(c.url)} ${auth}${c.host ? ` --host ${shQuote(c.host)}` : ''} /proc/vmcore)
rc=$?
case $rc in
0) log "the collector ${c.url} knows this crash: signature and log sent, no dump needed"; exit 0 ;;
10)
  log "the collector wants the dump: sending it to $url"
  if node ${NODE_FLAGS} ${INITRAMFS_BUNDLE} save --to "$url" ${auth} --message-level 6 ${saveArgs.join(' ')} /proc/vmcore; then log "saved $url"; exit 0; fi
  log "sending the dump to the collector failed: saving to the configured target" ;;
*) log "no answer from the collector ${c.url} (exit $rc): saving to the configured target" ;;
esac
`;
}

/** /init's ssh part: `save --to` (with the log first), tried SSH_SAVE_ATTEMPTS times (each resumes). */
function sshSave(ssh: SshCapture, o: InitScriptOptions): string {
  const flags = ['--ssh-key', shQuote(ssh.key), '--known-hosts', shQuote(ssh.knownHosts), ...(ssh.encryptTo ? ['--encrypt-to', shQuote(ssh.encryptTo)] : [])];
  return remoteSave(ssh.url, flags, '', o);
}

/**
 * /init's S3 part: `save --to s3://BUCKET/PREFIX/STAMP` (one object by multipart upload, then the
 * manifest; with the log first), signed with the credentials file, tried SSH_SAVE_ATTEMPTS times:
 * each resumes the multipart upload the previous one left.
 */
function s3Save(s3: S3Capture, o: InitScriptOptions): string {
  const flags = [
    '--s3-credentials', shQuote(s3.credentials),
    ...(s3.endpoint ? ['--s3-endpoint', shQuote(s3.endpoint)] : []),
    ...(s3.region ? ['--s3-region', shQuote(s3.region)] : []),
    ...(s3.encryptTo ? ['--encrypt-to', shQuote(s3.encryptTo)] : []),
  ];
  return remoteSave(s3.url, flags, s3.caBundle ? `export NODE_EXTRA_CA_CERTS=${shQuote(s3.caBundle)}\n` : '', o);
}

/** `save --to URL/STAMP` with the target's flags, tried SSH_SAVE_ATTEMPTS times (each resumes). */
function remoteSave(base: string, targetFlags: string[], env: string, o: InitScriptOptions): string {
  const flags = [...targetFlags, '--state-dir', '/run/vmcore-ts', '--with-log', '--message-level', '6'];
  return `stamp=$(date +%Y%m%d-%H%M%S)
url=${shQuote(base.replace(/\/$/, ''))}/$stamp
log "saving /proc/vmcore ($(stat -c %s /proc/vmcore) bytes) to $url; memory: $(grep -E '^Mem(Total|Available):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
${sshSaverSetup(o.mode)}
${env}n=0
while :; do
  n=$((n + 1))
  run save --to "$url" ${flags.join(' ')} ${o.saveArgs.join(' ')} /proc/vmcore
  rc=$?
  [ $rc -eq 0 ] && break
  [ $n -ge ${SSH_SAVE_ATTEMPTS} ] && break
  log "vmcore-ts save failed with exit code $rc (attempt $n of ${SSH_SAVE_ATTEMPTS}); resuming in 5 s"
  sleep 5
done
[ $rc -eq 0 ] && log "saved $url" || log "vmcore-ts save failed with exit code $rc"
exit $rc
`;
}

/** The directories and device nodes every capture initramfs has. */
export function addCaptureSkeleton(a: CpioArchive): void {
  for (const d of ['proc', 'sys', 'dev', 'mnt', 'tmp', 'bin', 'usr/bin']) a.dir(d);
  a.add({ type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 });
  a.add({ type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });
}

/** The busybox applet links, beside bin/busybox (the host's file). */
export function addBusyboxApplets(a: CpioArchive): void {
  for (const applet of BUSYBOX_APPLETS) a.symlink(`bin/${applet}`, 'busybox');
}

/** Where Debian's nodejs keeps the builtins it is built to load from files (--shared-builtin-*-path). */
export const DEBIAN_NODE_BUILTINS_DIR = '/usr/share/nodejs/';

/**
 * The externalized builtins a Node.js binary or its libnode loads at start-up (Debian builds acorn,
 * cjs-module-lexer, undici, minimatch… as files under /usr/share/nodejs: without them node aborts
 * with "Cannot load externalized builtin"): every "/usr/share/nodejs/….js" path in its bytes, once each.
 */
export function externalizedBuiltinPaths(binary: Uint8Array): string[] {
  const needle = new TextEncoder().encode(DEBIAN_NODE_BUILTINS_DIR);
  const out = new Set<string>();
  const end = binary.length - needle.length;
  outer: for (let i = binary.indexOf(needle[0]!); i >= 0 && i <= end; i = binary.indexOf(needle[0]!, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (binary[i + j] !== needle[j]) continue outer;
    let k = i + needle.length;
    while (k < binary.length && k - i < 256 && /[-\w./@+]/.test(String.fromCharCode(binary[k]!))) k++;
    const path = new TextDecoder().decode(binary.subarray(i, k));
    if (path.endsWith('.js') && !path.includes('/../')) out.add(path);
  }
  return [...out].sort();
}

/** A shared library's path by soname in `ldconfig -p`'s listing; on x64 (Node's process.arch) only an x86-64 one. */
export function libraryInLdCache(listing: string, soname: string, arch: string): string | undefined {
  const m = new RegExp(`^\\s+${soname.replace(/\./g, '\\.')} \\(([^)]*)\\) => (\\S+)$`, 'm').exec(listing);
  return m && (arch !== 'x64' || m[1]!.includes('x86-64')) ? m[2] : undefined;
}

/** The S3 worker bundle (the AWS SDK): in the capture initramfs only for an S3 target. */
export const S3_WORKER_BUNDLE = 's3-worker.mjs';

/**
 * The files beside the bundle it loads at run time (the save pipeline's compression worker; the S3
 * worker when the target is S3): its sibling .mjs chunks, not the other CLIs.
 */
export function bundleCompanions(siblings: string[], bundle: string, opts: { s3?: boolean } = {}): string[] {
  return siblings.filter((f) => f.endsWith('.mjs') && f !== bundle && (!BUNDLES_NOT_NEEDED.has(f) || (opts.s3 === true && f === S3_WORKER_BUNDLE)));
}

/**
 * Block drivers for a capture initramfs built into an image (its mounts from /etc/fstab): the
 * building machine's sysfs says nothing of the disks it will boot on, so those of these that the
 * capture kernel has as modules go in (virtual, SATA/SCSI, NVMe and the clouds' disks).
 */
export const OFFLINE_DISK_DRIVERS = ['virtio_blk', 'virtio_scsi', 'virtio_pci', 'sd_mod', 'ahci', 'nvme', 'xen_blkfront', 'hv_storvsc', 'vmw_pvscsi'];

/**
 * The modules the capture kernel needs: the dump target's (and, in root mode, the root file
 * system's) driver chain and filesystem that are loaded modules now (built-in ones need nothing), plus what the config names; once each.
 */
export function wantedModules(target: { drivers: string[]; fstype: string }, isLoaded: (name: string) => boolean, config: KdumpConfig, root?: { drivers: string[]; fstype: string }): string[] {
  const auto = [...target.drivers, target.fstype, ...(root ? [...root.drivers, root.fstype] : [])].filter(isLoaded);
  return [...new Set([...auto, ...config.modules])];
}

/** Modules asked for when the capture kernel's release has no modules directory: an error when the config names any. */
export function noModulesDir(modulesDir: string, config: KdumpConfig): void {
  if (config.modules.length) throw new KexecError(`capture initramfs: ${modulesDir} does not exist, but the config asks for modules ${config.modules.join(' ')}`);
}

/** The target, release and /init files, last (once the modules' load order is known). */
export function addCaptureConfig(a: CpioArchive, o: { config: KdumpConfig; target: DumpTarget; release: string; modules: string[]; mode: CaptureMode; collectorNet?: CaptureNet }): void {
  const remote = o.target.ssh ?? o.target.s3;
  a.file('etc/kdump-ts.target', remote ? `${remote.url}\n` : `${o.target.device} ${o.target.fstype} ${o.target.dir}\n`);
  const nets = [o.target.network, o.collectorNet].filter((n): n is CaptureNet => n !== undefined);
  if (nets.length) {
    a.file(UDHCPC_SCRIPT_PATH, UDHCPC_SCRIPT, 0o755);
    a.file('etc/hosts', ['127.0.0.1 localhost', ...nets.flatMap((n) => n.hosts.map((h) => `${h.address} ${h.name}`))].join('\n') + '\n');
  }
  if (o.target.ssh) {
    a.file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
    a.file('etc/group', 'root:x:0:\n');
  }
  a.file(INITRAMFS_RELEASE, `${o.release}\n`); // what `kdump-ts test` checks it was built for
  a.file(CAPTURE_MODE_FILE, captureModeLine(o.mode));
  const nfs = { options: o.config.nfsOptions, attempts: o.config.nfsAttempts };
  const collector = o.config.collector && o.collectorNet ? { ...o.config.collector, network: o.collectorNet } : undefined;
  a.file('init', initScript({ target: o.target, modules: o.modules, saveArgs: saveArgs(o.config), after: o.config.after, failureAction: o.config.failureAction, mode: o.mode, nfs, collector }), 0o755);
}
