// A real S3 server for tests: Ceph's radosgw on a single-node RADOS cluster (one ceph-mon, one
// ceph-osd with the in-memory object store, memstore), from Debian trixie's packages (Ceph 18.2),
// run by chroot from a cached Debian root unpacked into memory. Everything listens on 127.0.0.1
// (messenger v1 only), all state is in one temporary directory, the three daemons run in the
// foreground (-f) and are stopped by their PIDs. cephx authentication between the daemons (with
// auth none the OSD sends its first commands before it has the monitor map, with a zero fsid, and
// Reef refuses them); one radosgw user with a known key; parts may be 1 MiB (rgw's default minimum is 5 MiB).
// Start-up: ~15 s once the root is cached (~35 s more to build it with mmdebstrap).
//
// How it was worked out: Ceph's vstart.sh (--memstore, single OSD, pool size 1) and the manual
// deployment steps of the Ceph documentation (monmaptool, ceph-mon --mkfs, ceph osd new, ceph-osd --mkfs).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cannotMakeRoot, debianRootTarball, sh } from './packaging/debian-root.ts';
import { freePort } from './free-port.ts';

export const CEPH_PACKAGES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-common'];

/** Why no Ceph S3 server can run here, or undefined. */
export function cephS3Unavailable(): string | undefined {
  const why = cannotMakeRoot();
  return why ? `the Ceph S3 server runs from a Debian root: ${why}` : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8', HOME: '/root' };

export class CephS3Server {
  /** The unpacked root (in /dev/shm when there is one); the cluster's files are under /c inside it. */
  root = '';
  port = 0;
  /** The radosgw user's key. */
  readonly key = { id: 'KDUMPTSTEST' + randomUUID().replace(/-/g, '').slice(0, 9).toUpperCase(), secret: randomUUID().replace(/-/g, '') };
  private readonly daemons: { name: string; proc: ChildProcess }[] = [];
  private procMounted = false;
  /** Seconds the root took to build (0: cached). */
  buildSeconds = 0;

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private run(args: string[], timeoutMs = 60_000) {
    return sh('chroot', [this.root, ...args], timeoutMs, { env: ENV });
  }
  private ceph(args: string[], timeoutMs = 30_000) {
    return this.run(['ceph', '-c', '/c/ceph.conf', ...args], timeoutMs);
  }

  private daemon(name: string, args: string[]): ChildProcess {
    const proc = spawn('chroot', [this.root, ...args], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
    proc.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') process.stderr.write(`ceph test server: ${name} exited (${code ?? signal}): ${err}\n`);
    });
    this.daemons.push({ name, proc });
    return proc;
  }

  /** The last lines of a daemon's log (mon.a, osd.0, client.rgw), for failure messages. */
  logTail(name: string, bytes = 3000): string {
    try {
      return readFileSync(join(this.root, 'c/log', `${name}.log`), 'utf8').slice(-bytes);
    } catch {
      return '';
    }
  }

  async start(): Promise<void> {
    const { tarball, buildSeconds } = debianRootTarball('trixie', CEPH_PACKAGES);
    this.buildSeconds = buildSeconds;
    this.root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kexec-ts-ceph-'));
    sh('tar', ['-C', this.root, '-xf', tarball, '--wildcards', ...['./usr/share/locale/*', './usr/share/doc/*', './usr/share/man/*'].map((p) => `--exclude=${p}`)], 120_000);
    mkdirSync(join(this.root, 'proc'), { recursive: true });
    sh('mount', ['-t', 'proc', 'proc', join(this.root, 'proc')], 10_000);
    this.procMounted = true;
    const monPort = await freePort();
    this.port = await freePort();
    const fsid = randomUUID();
    const c = join(this.root, 'c');
    for (const d of ['run', 'log', 'mon.a', 'osd.0', 'rgw']) mkdirSync(join(c, d), { recursive: true });
    writeFileSync(
      join(c, 'ceph.conf'),
      `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
public addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = /c/run
admin socket = /c/run/$name.asok
log file = /c/log/$name.log
pid file = /c/run/$name.pid
keyring = /c/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
[mon]
mon data = /c/mon.$id
[osd]
osd data = /c/osd.$id
keyring = /c/osd.$id/keyring
osd objectstore = memstore
memstore device bytes = 1073741824
[client.rgw]
keyring = /c/rgw.keyring
rgw frontends = beast endpoint=127.0.0.1:${this.port}
rgw data = /c/rgw
rgw multipart min part size = 1048576
`,
    );
    // The monitor: its key and the admin's, a one-monitor map, its store.
    this.run(['ceph-authtool', '--create-keyring', '/c/keyring', '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    this.run(['ceph-authtool', '/c/keyring', '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
    this.run(['monmaptool', '--create', '--add', 'a', `v1:127.0.0.1:${monPort}`, '--fsid', fsid, '/c/monmap']);
    this.run(['ceph-mon', '-c', '/c/ceph.conf', '--mkfs', '-i', 'a', '--monmap', '/c/monmap', '--keyring', '/c/keyring']);
    this.daemon('ceph-mon', ['ceph-mon', '-c', '/c/ceph.conf', '-f', '-i', 'a']);
    // The OSD: registered, its key, its (memory) store made, then started.
    const uuid = randomUUID();
    this.ceph(['osd', 'new', uuid]);
    this.ceph(['auth', 'get-or-create', 'osd.0', 'osd', 'allow *', 'mon', 'allow profile osd', 'mgr', 'allow profile osd', '-o', '/c/osd.0/keyring']);
    this.run(['ceph-osd', '-c', '/c/ceph.conf', '-i', '0', '--mkfs', '--osd-uuid', uuid]);
    this.daemon('ceph-osd', ['ceph-osd', '-c', '/c/ceph.conf', '-f', '-i', '0']);
    // radosgw (it creates its pools once the OSD is up), then its user.
    this.ceph(['auth', 'get-or-create', 'client.rgw', 'mon', 'allow rw', 'osd', 'allow rwx', '-o', '/c/rgw.keyring']);
    const rgw = this.daemon('radosgw', ['radosgw', '-c', '/c/ceph.conf', '-f', '-n', 'client.rgw']);
    for (let i = 0; ; i++) {
      if (this.daemons.some((d) => d.proc.exitCode !== null)) throw new Error(`a Ceph daemon exited while starting: ${this.daemons.map((d) => `${d.name}: ${d.proc.exitCode ?? 'running'}`).join(', ')}\n${this.logTail('osd.0')}\n${this.logTail('client.rgw')}`);
      if (i > 600) throw new Error(`radosgw did not answer on ${this.endpoint} in 60 s: ${this.logTail('client.rgw')}`);
      if (rgw.exitCode === null && (await fetch(this.endpoint).then((r) => r.ok, () => false))) break;
      await sleep(100);
    }
    this.run(['radosgw-admin', '-c', '/c/ceph.conf', '-n', 'client.admin', 'user', 'create', '--uid', 'dumper', '--display-name', 'kexec-ts tests', '--access-key', this.key.id, '--secret-key', this.key.secret]);
  }

  /** Stops the three daemons by PID (radosgw, the OSD, the monitor), unmounts /proc, deletes everything. */
  async stop(): Promise<void> {
    for (const d of [...this.daemons].reverse()) {
      const p = d.proc;
      if (p.exitCode !== null || p.signalCode !== null) continue;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        process.kill(p.pid!, 'SIGKILL');
      });
    }
    this.daemons.length = 0;
    if (!this.root) return;
    if (this.procMounted) {
      const u = spawnSync('umount', [join(this.root, 'proc')], { timeout: 10_000 });
      if (u.status !== 0 && spawnSync('mountpoint', ['-q', join(this.root, 'proc')]).status === 0) throw new Error(`could not unmount ${this.root}/proc; left ${this.root} in place`);
      this.procMounted = false;
    }
    spawnSync('rm', ['-rf', '--one-file-system', this.root], { timeout: 60_000 });
    this.root = '';
  }
}
