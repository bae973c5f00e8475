// A throwaway NFSv4 server for tests: NFS-Ganesha (Debian's nfs-ganesha + nfs-ganesha-vfs, a
// user-space server) exporting one temporary directory read-write without root squash, listening
// on 127.0.0.1 only, stopped by its PID. The e2e guests reach it through QEMU's forward.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

const GANESHA = '/usr/bin/ganesha.nfsd';
const VFS_FSAL = '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so';

/** Why no test NFS server can run here, or undefined. */
export const nfsMissing: string | undefined = !existsSync(GANESHA) || !existsSync(VFS_FSAL) ? 'needs nfs-ganesha and nfs-ganesha-vfs (scripts/install-test-deps.sh)' : process.getuid?.() !== 0 ? 'the NFS server (VFS FSAL) needs root' : undefined;

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

export class TestNfsServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'test-nfs-'));
  /** The exported directory on the host, and its path for clients (NFSv4 pseudo path). */
  readonly exportDir = join(this.dir, 'export');
  readonly pseudo = '/crash';
  port = 0;
  private proc: ChildProcess | undefined;
  /** The export's own small file system (a full export), when asked for: its size in MiB. */
  private readonly capacityMiB: number | undefined;
  private mounted = false;
  constructor(opts: { capacityMiB?: number } = {}) {
    this.capacityMiB = opts.capacityMiB;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    mkdirSync(this.exportDir);
    if (this.capacityMiB !== undefined) {
      // An ext4 image of that size (no blocks reserved for root: the server writes as root),
      // loop-mounted on the export: writes past it fail with ENOSPC, as on a full NFS server.
      const img = join(this.dir, 'export.img');
      const sh = (cmd: string, args: string[]) => {
        const r = spawnSync(cmd, args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
      };
      sh('truncate', ['-s', `${this.capacityMiB}M`, img]);
      sh('mkfs.ext4', ['-q', '-m', '0', img]);
      sh('mount', ['-o', 'loop', img, this.exportDir]);
      this.mounted = true;
    }
    const conf = join(this.dir, 'ganesha.conf');
    writeFileSync(
      conf,
      `NFS_CORE_PARAM { Protocols = 4; Bind_addr = 127.0.0.1; NFS_Port = ${this.port}; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }
NFSV4 { Graceless = true; Minor_Versions = 1, 2; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT { Export_Id = 1; Path = ${this.exportDir}; Pseudo = ${this.pseudo}; Protocols = 4; Transports = TCP; Access_Type = RW; Squash = No_Root_Squash; SecType = sys; FSAL { Name = VFS; } }
`,
    );
    this.proc = spawn(GANESHA, ['-F', '-L', join(this.dir, 'ganesha.log'), '-f', conf, '-p', join(this.dir, 'ganesha.pid'), '-N', 'NIV_EVENT'], { stdio: 'ignore' });
    for (let i = 0; i < 150; i++) {
      if (this.proc.exitCode !== null) break;
      if (await accepts(this.port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the test NFS server did not come up on 127.0.0.1:${this.port}: ${this.log().slice(-1500)}`);
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'ganesha.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async dispose(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
        p.once('exit', () => (clearTimeout(t), resolve()));
        p.kill('SIGTERM');
      });
    }
    if (this.mounted) spawnSync('umount', [this.exportDir]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
