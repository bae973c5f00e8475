// The kdump-ts configuration file (default /etc/kdump-ts.conf): `key = value` lines, `#` comments,
// blank lines ignored, unknown keys refused (a typo must not silently disable dumping). Pure.
//
//   kernel = /boot/vmlinuz-6.1.0-18-amd64   capture kernel (default: /boot/vmlinuz-`uname -r`)
//   initrd = /var/lib/kdump-ts/initrd.img   capture initramfs (default: the one `kdump-ts mkinitrd` builds)
//   cmdline =                               full capture command line (default: derived from /proc/cmdline)
//   cmdline_append = console=ttyS0          added to the derived command line
//   cmdline_remove = audit splash           parameter names dropped from it
//   target = /var/crash                     directory dumps are written under (one subdirectory per dump)
//   target_device = UUID=1234-abcd          the filesystem to mount in the capture kernel (default: the one
//                                           holding `target` now; /dev/…, UUID=, LABEL=, PARTUUID=, PARTLABEL=,
//                                           /dev/disk/by-…/…, MAJOR:MINOR: device-spec.ts)
//   target_fstype = ext4                    its type (default: as mounted now)
//   dump_level = 31                         makedumpfile -d: 0–31 (1 zero, 2 cache, 4 cache private, 8 user, 16 free)
//   compression = zlib                      zlib | lzo | snappy | zstd | none (none writes ELF)
//   syscall = auto                          auto | kexec_load | kexec_file_load
//   modules = virtio_blk ext4               extra kernel modules for the capture initramfs
//   after = reboot                          reboot | poweroff | halt | shell, once the dump is saved
//   capture = auto                          auto | root | initramfs: where the capture kernel runs Node.js from:
//                                           root mounts the root file system (read-only unless it is the
//                                           target) and runs node from it; initramfs carries node (~110 MiB
//                                           more crashkernel=); auto: root when it is a local block device
//   root_device = UUID=…                    the root file system for capture = root (default: / as mounted now,
//                                           or /etc/fstab's for another root); named as target_device
//   root_fstype = ext4                      its type (default: as mounted now)
//   target = ssh://root@dumphost/var/crash  instead of a directory: the dump goes over ssh (save --to), as
//                                           chunks + a manifest under DIR/YYYYmmdd-HHMMSS; key only:
//   ssh_key = /etc/kdump-ts/id_ed25519      the private key (required with ssh)
//   known_hosts = /etc/kdump-ts/known_hosts the server's host key (required: no trust on first use)
//   encrypt_to = /etc/kdump-ts/dump.pub     seal the chunks to this X25519 public key (optional)
//   net_device = 52:54:00:12:34:56          the interface (MAC or name; default: the default route's now)
//   net = dhcp                              dhcp, or ADDRESS/PREFIX GATEWAY
//   failure_action = shell                  when the save fails: reboot | poweroff | halt | shell (default: after)
//   target_device = nfshost:/export         with target_fstype = nfs4 (or nfs): an NFS export the capture kernel
//                                           mounts (target is then the directory inside it); net_device, net apply
//   nfs_options = timeo=600,retrans=2       its mount options; nfs_attempts = 3: mounts tried, 5 s apart
//   collector = https://collector:8443      triage first (vmcore-ts triage): the signature and log go there; the dump
//                                           too when the collector asks for it, else nothing more; no answer: target
//   collector_token = /etc/kdump-ts/token   this host's token (required with collector); collector_ca = FILE;
//   collector_host = NAME                   the name the token belongs to (default: the dump's node name)
//   target = s3://bucket/prefix             instead: S3-compatible object storage (save --to s3://): one object
//                                           PREFIX/YYYYmmdd-HHMMSS/vmcore.flat by multipart upload + a manifest;
//   s3_credentials = /etc/kdump-ts/s3-credentials  the AWS credentials file (required; mode 600, root's)
//   s3_endpoint = http://HOST:PORT          any S3 server (path-style); default: AWS
//   s3_region = eu-west-3                   default: the credentials file's region, else us-east-1
//                                           (encrypt_to, net_device and net apply as for ssh)
import { didYouMean } from '../did-you-mean.ts';
import { ParseError } from '../errors.ts';
import { deviceSpecText, parseDeviceSpec } from './device-spec.ts';
import { parseSshUrl, type SshTarget } from '../ssh-url.ts';
import { isS3Endpoint, parseS3Url, type S3Target } from '../s3-url.ts';
import { UsageError } from '../errors.ts';

export const DEFAULT_CONFIG_PATH = '/etc/kdump-ts.conf';
/** Where `kdump-ts mkinitrd` writes and `load` looks for the capture initramfs by default. */
export const DEFAULT_INITRD_DIR = '/var/lib/kdump-ts';

export const COMPRESSIONS = ['zlib', 'lzo', 'snappy', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export const SYSCALLS = ['auto', 'kexec_load', 'kexec_file_load'] as const;
export type KdumpSyscall = (typeof SYSCALLS)[number];
export const AFTER = ['reboot', 'poweroff', 'halt', 'shell'] as const;
export type After = (typeof AFTER)[number];
export const CAPTURES = ['auto', 'root', 'initramfs'] as const;
export type Capture = (typeof CAPTURES)[number];

export interface KdumpConfig {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  cmdlineAppend: string;
  cmdlineRemove: string[];
  target: string;
  targetDevice?: string;
  targetFstype?: string;
  dumpLevel: number;
  compression: Compression;
  syscall: KdumpSyscall;
  modules: string[];
  after: After;
  capture: Capture;
  rootDevice?: string;
  rootFstype?: string;
  /** target = ssh://…: the dump goes over ssh; with its key, known hosts and optional public key to seal to. */
  ssh?: { target: SshTarget; key: string; knownHosts: string; encryptTo?: string };
  /** target = s3://…: the dump goes to S3-compatible object storage, with its credentials file, endpoint, region, optional public key. */
  s3?: { target: S3Target; credentials: string; endpoint?: string; region?: string; encryptTo?: string };
  netDevice?: string;
  /** 'dhcp', or a static address: ADDRESS/PREFIX and GATEWAY. */
  net: 'dhcp' | { address: string; gateway: string };
  /** What the capture kernel does when the save fails (default: `after`). */
  failureAction?: After;
  /** NFS targets: the mount options (timeouts, retransmissions) and how many mounts are tried. */
  nfsOptions: string;
  nfsAttempts: number;
  /** Triage first: the collector asked before any dump moves (its token, CA, the host name the token is for). */
  collector?: { url: string; token: string; ca?: string; host?: string };
}

export const DEFAULT_CONFIG: KdumpConfig = {
  cmdlineAppend: '',
  cmdlineRemove: [],
  target: '/var/crash',
  dumpLevel: 31,
  compression: 'zlib',
  syscall: 'auto',
  modules: [],
  after: 'reboot',
  capture: 'auto',
  net: 'dhcp',
  nfsOptions: 'timeo=600,retrans=2',
  nfsAttempts: 3,
};

/** The keys a configuration file may set. */
export const CONFIG_KEYS = ['kernel', 'initrd', 'cmdline', 'cmdline_append', 'cmdline_remove', 'target', 'target_device', 'target_fstype', 'dump_level', 'compression', 'syscall', 'modules', 'after', 'capture', 'root_device', 'root_fstype', 'ssh_key', 'known_hosts', 'encrypt_to', 'net_device', 'net', 'failure_action', 'nfs_options', 'nfs_attempts', 'collector', 'collector_token', 'collector_ca', 'collector_host', 's3_credentials', 's3_endpoint', 's3_region'] as const;

function oneOf<T extends string>(allowed: readonly T[], v: string, key: string, line: number, source: string): T {
  if ((allowed as readonly string[]).includes(v)) return v as T;
  const close = didYouMean(v, allowed);
  throw new ParseError(`${key} = ${v}: expected one of ${allowed.join(', ')}${close ? ` (did you mean ${close}?)` : ''}`, { line, source });
}

/** A device key's value in its canonical form (deviceSpecText), or the line's error. */
function deviceValue(key: string, value: string, line: number, source: string): string {
  const d = parseDeviceSpec(value);
  if ('error' in d) throw new ParseError(`${key} = ${d.error}`, { line, source });
  return deviceSpecText(d);
}

/** Parses the configuration text; missing keys take DEFAULT_CONFIG's values. */
export function parseConfig(text: string, source = DEFAULT_CONFIG_PATH): KdumpConfig {
  const c: KdumpConfig = { ...DEFAULT_CONFIG, cmdlineRemove: [], modules: [] };
  const seen = new Set<string>();
  let sshTarget: SshTarget | undefined;
  let s3Target: S3Target | undefined;
  const s3: { credentials?: string; endpoint?: string; region?: string } = {};
  let targetLine = 0;
  let targetDeviceLine = 0;
  let collectorLine = 0;
  const collector: Partial<NonNullable<KdumpConfig['collector']>> = {};
  const sshFiles: Partial<Record<'ssh_key' | 'known_hosts' | 'encrypt_to', string>> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const at = i + 1; // the line number errors give as SOURCE:LINE:
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ParseError(`expected "key = value", got ${JSON.stringify(line.slice(0, 60))}`, { line: at, source });
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (seen.has(key)) throw new ParseError(`${key} is set twice`, { line: at, source });
    seen.add(key);
    const words = value.split(/\s+/).filter(Boolean);
    switch (key) {
      case 'kernel':
      case 'initrd':
      case 'cmdline':
        if (value) c[key] = value;
        break;
      case 'cmdline_append':
        c.cmdlineAppend = value;
        break;
      case 'cmdline_remove':
        c.cmdlineRemove = words;
        break;
      case 'target':
        if (value.startsWith('ssh://')) {
          try {
            sshTarget = parseSshUrl(value, 'target =');
          } catch (e) {
            if (e instanceof UsageError) throw new ParseError(e.message, { line: at, source });
            throw e;
          }
          targetLine = at;
        } else if (value.startsWith('s3://')) {
          try {
            s3Target = parseS3Url(value, 'target =');
          } catch (e) {
            if (e instanceof UsageError) throw new ParseError(e.message, { line: at, source });
            throw e;
          }
          targetLine = at;
        } else if (!value.startsWith('/')) throw new ParseError(`target = ${value}: must be an absolute directory path, ssh://[USER@]HOST[:PORT]/DIR or s3://BUCKET/PREFIX`, { line: at, source });
        c.target = value;
        break;
      case 'ssh_key':
      case 'known_hosts':
      case 'encrypt_to':
        if (!value.startsWith('/')) throw new ParseError(`${key} = ${value}: must be an absolute file path`, { line: at, source });
        sshFiles[key] = value;
        break;
      case 's3_credentials':
        if (!value.startsWith('/')) throw new ParseError(`${key} = ${value}: must be an absolute file path`, { line: at, source });
        s3.credentials = value;
        break;
      case 's3_endpoint':
        if (!isS3Endpoint(value)) throw new ParseError(`s3_endpoint = ${value}: expected http(s)://HOST[:PORT]`, { line: at, source });
        s3.endpoint = value.replace(/\/$/, '');
        break;
      case 's3_region':
        if (!/^[a-z0-9-]+$/.test(value)) throw new ParseError(`s3_region = ${value}: a region name (e.g. eu-west-3: a-z, 0-9, '-')`, { line: at, source });
        s3.region = value;
        break;
      case 'net_device':
        if (value) c.netDevice = value;
        break;
      case 'net': {
        const m = /^(\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2})\s+(\d{1,3}(?:\.\d{1,3}){3})$/.exec(value);
        if (value === 'dhcp') c.net = 'dhcp';
        else if (m) c.net = { address: m[1]!, gateway: m[2]! };
        else throw new ParseError(`net = ${value}: expected dhcp, or ADDRESS/PREFIX GATEWAY (e.g. 192.0.2.10/24 192.0.2.1)`, { line: at, source });
        break;
      }
      case 'failure_action':
        c.failureAction = oneOf(AFTER, value, key, at, source);
        break;
      case 'target_device':
        // An NFS export (SERVER:/EXPORT) is checked once target_fstype is known, below.
        if (value) {
          targetDeviceLine = at;
          c.targetDevice = /^[^\s:/]+:\//.test(value) ? value : deviceValue(key, value, at, source);
        }
        break;
      case 'collector':
        if (!/^https?:\/\/[^\s/]+\/?$/.test(value)) throw new ParseError(`collector = ${value}: expected https://HOST[:PORT]`, { line: at, source });
        collector.url = value.replace(/\/$/, '');
        collectorLine = at;
        break;
      case 'collector_token':
      case 'collector_ca':
        if (!value.startsWith('/')) throw new ParseError(`${key} = ${value}: must be an absolute file path`, { line: at, source });
        collector[key === 'collector_token' ? 'token' : 'ca'] = value;
        break;
      case 'collector_host':
        if (!/^[\w.-]+$/.test(value)) throw new ParseError(`collector_host = ${value}: a host name (letters, digits, '.', '-', '_')`, { line: at, source });
        collector.host = value;
        break;
      case 'nfs_options':
        if (!/^[\w.=,-]*$/.test(value)) throw new ParseError(`nfs_options = ${value}: comma-separated mount options (letters, digits, '=', '.', '-')`, { line: at, source });
        c.nfsOptions = value;
        break;
      case 'nfs_attempts': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || n > 100) throw new ParseError(`nfs_attempts = ${value}: expected 1 to 100`, { line: at, source });
        c.nfsAttempts = n;
        break;
      }
      case 'target_fstype':
        if (value) c.targetFstype = value;
        break;
      case 'dump_level': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n > 31) throw new ParseError(`dump_level = ${value}: expected 0 to 31`, { line: at, source });
        c.dumpLevel = n;
        break;
      }
      case 'compression':
        c.compression = oneOf(COMPRESSIONS, value, key, at, source);
        break;
      case 'syscall':
        c.syscall = oneOf(SYSCALLS, value, key, at, source);
        break;
      case 'modules':
        c.modules = words;
        break;
      case 'after':
        c.after = oneOf(AFTER, value, key, at, source);
        break;
      case 'capture':
        c.capture = oneOf(CAPTURES, value, key, at, source);
        break;
      case 'root_device':
        if (value) c.rootDevice = deviceValue(key, value, at, source);
        break;
      case 'root_fstype':
        if (value) c.rootFstype = value;
        break;
      default: {
        const close = didYouMean(key, CONFIG_KEYS);
        throw new ParseError(`unknown key ${JSON.stringify(key)}${close ? ` (did you mean ${close}?)` : ''}`, {
          line: at,
          source,
          hint: close ? undefined : `known keys: ${CONFIG_KEYS.join(', ')}`,
        });
      }
    }
  }
  if (collector.url) {
    if (!collector.token) throw new ParseError('collector = … needs collector_token = FILE (this host\'s token, mode 600)', { line: collectorLine, source });
    if (c.capture === 'root') throw new ParseError('collector = … runs triage from the capture initramfs: set capture = initramfs (or auto)', { line: collectorLine, source });
    c.collector = { url: collector.url, token: collector.token, ...(collector.ca ? { ca: collector.ca } : {}), ...(collector.host ? { host: collector.host } : {}) };
  } else if (collector.token || collector.ca || collector.host) throw new ParseError('collector_token, collector_ca and collector_host go with collector = https://…', { source });
  const nfs = c.targetFstype === 'nfs' || c.targetFstype === 'nfs4';
  const exportSpec = c.targetDevice !== undefined && /^[^\s:/]+:\//.test(c.targetDevice);
  if (nfs && !exportSpec) throw new ParseError(`target_fstype = ${c.targetFstype} needs target_device = SERVER:/EXPORT`, { line: targetDeviceLine || undefined, source });
  if (exportSpec && !nfs) throw new ParseError(`target_device = ${c.targetDevice}: an NFS export; set target_fstype = nfs4 (or nfs)`, { line: targetDeviceLine, source });
  if (sshTarget) {
    const missing = (['ssh_key', 'known_hosts'] as const).filter((k) => !sshFiles[k]);
    if (missing.length) {
      throw new ParseError(`target = ssh://… needs ${missing.map((k) => `${k} = FILE`).join(' and ')}: the capture kernel logs in by key only and checks the server's key`, {
        line: targetLine,
        source,
        hint: 'make a key with ssh-keygen -t ed25519 -N "" -f /etc/kdump-ts/id_ed25519, authorize it on the server, and ssh-keyscan the server into /etc/kdump-ts/known_hosts',
      });
    }
    c.ssh = { target: sshTarget, key: sshFiles.ssh_key!, knownHosts: sshFiles.known_hosts!, encryptTo: sshFiles.encrypt_to };
  } else {
    const stray = (['ssh_key', 'known_hosts', ...(s3Target ? [] : (['encrypt_to'] as const))] as const).filter((k) => sshFiles[k]);
    if (stray.length) throw new ParseError(`${stray.join(', ')}: used only with target = ssh://…${stray.includes('encrypt_to') ? ' or s3://…' : ''}`, { source });
  }
  if (s3Target) {
    if (!s3.credentials) {
      throw new ParseError('target = s3://… needs s3_credentials = FILE: the AWS credentials file the capture kernel signs with (mode 600, owned by root)', {
        line: targetLine,
        source,
        hint: 'write [default], aws_access_key_id = …, aws_secret_access_key = … into /etc/kdump-ts/s3-credentials and chmod 600 it',
      });
    }
    c.s3 = { target: s3Target, credentials: s3.credentials, ...(s3.endpoint ? { endpoint: s3.endpoint } : {}), ...(s3.region ? { region: s3.region } : {}), ...(sshFiles.encrypt_to ? { encryptTo: sshFiles.encrypt_to } : {}) };
  } else {
    const stray = (['credentials', 'endpoint', 'region'] as const).filter((k) => s3[k] !== undefined).map((k) => `s3_${k}`);
    if (stray.length) throw new ParseError(`${stray.join(', ')}: used only with target = s3://…`, { source });
  }
  return c;
}

/** The `vmcore-ts save` options the capture initramfs runs with (makedumpfile-compatible flags). */
export function saveArgs(c: KdumpConfig): string[] {
  const flag: Record<Compression, string> = { zlib: '-c', lzo: '-l', snappy: '-p', zstd: '-z', none: '-E' };
  return [flag[c.compression], '-d', String(c.dumpLevel)];
}

/** A config file with every key, commented, as `kdump-ts` writes it for `--print-default-config`. */
export function defaultConfigText(): string {
  return [
    '# kdump-ts configuration. `key = value`; # starts a comment. Run `kdump-ts status` after editing.',
    '# kernel = /boot/vmlinuz-RELEASE        # capture kernel (default: the running release)',
    '# initrd = /var/lib/kdump-ts/initrd.img-RELEASE  # default: what `kdump-ts mkinitrd` builds',
    '# cmdline =                             # full capture command line (default: /proc/cmdline adjusted)',
    '# cmdline_append = console=ttyS0',
    '# cmdline_remove = splash',
    `target = ${DEFAULT_CONFIG.target}`,
    '# target_device = UUID=…              # default: the filesystem holding target now',
    '# target_fstype = ext4',
    `dump_level = ${DEFAULT_CONFIG.dumpLevel}`,
    `compression = ${DEFAULT_CONFIG.compression}`,
    `syscall = ${DEFAULT_CONFIG.syscall}`,
    '# modules = virtio_blk ext4             # extra modules for the capture initramfs',
    `after = ${DEFAULT_CONFIG.after}`,
    '# capture: root runs node from the root file system (small crashkernel=), initramfs carries node;',
    '# auto: root when the root file system is a local block device',
    `capture = ${DEFAULT_CONFIG.capture}`,
    '# root_device = UUID=…                # for capture = root (default: / as mounted now)',
    '# root_fstype = ext4',
    '# failure_action = reboot               # when the save fails: reboot, poweroff, halt or shell (default: after)',
    '# Over ssh instead of to a disk (chunks + manifest, resumed, checked with vmcore-ts verify):',
    '# target = ssh://root@dumphost/var/crash',
    '# ssh_key = /etc/kdump-ts/id_ed25519     # required: login by key only',
    '# known_hosts = /etc/kdump-ts/known_hosts  # required: the server\'s host key (ssh-keyscan)',
    '# encrypt_to = /etc/kdump-ts/dump.pub     # seal the dump to this X25519 public key',
    '# net_device = eth0                     # or a MAC (default: the default route\'s interface now)',
    '# net = dhcp                            # or ADDRESS/PREFIX GATEWAY',
    '# Or S3-compatible object storage (one object by multipart upload + a manifest, resumed, vmcore-ts verify s3://…):',
    '# target = s3://crash-dumps/HOSTNAME',
    '# s3_credentials = /etc/kdump-ts/s3-credentials  # required: [default] aws_access_key_id, aws_secret_access_key; mode 600',
    '# s3_endpoint = https://s3.example.net   # any S3 server (path-style); default: AWS',
    '# s3_region = eu-west-3                  # default: the credentials file\'s region, else us-east-1',
    '# Or an NFS export: target_device = nfshost:/export, target_fstype = nfs4, target = /dir/inside',
    `# nfs_options = ${DEFAULT_CONFIG.nfsOptions}`,
    `# nfs_attempts = ${DEFAULT_CONFIG.nfsAttempts}`,
    '# Triage first (a fleet collector: vmcore-ts collect serve): the signature and log go there; the dump',
    '# only when it asks for it; without an answer, the target above as usual (capture = initramfs):',
    '# collector = https://collector:8443',
    '# collector_token = /etc/kdump-ts/collector.token',
    '# collector_ca = /etc/kdump-ts/collector-ca.pem',
    '',
  ].join('\n');
}
