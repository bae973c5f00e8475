// Node edge: where a chunked dump (src/dump/chunked.ts) is stored — a directory (local, or an NFS
// mount) or a directory on an SSH server (key-only: `ssh -o BatchMode=yes`, no password or
// keyboard prompt is ever answered). Each chunk is written aside and renamed, so a cut transfer
// leaves whole chunks only; the next run hashes what is there and sends the rest.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputError } from '../errors.ts';
import { writeFileDurably } from './file-sink.ts';
import { formatSshUrl, type SshTarget } from '../ssh-url.ts';
import type { ChunkStore, Hasher } from '../dump/chunked.ts';

export const sha256Hasher = (): Hasher => {
  const h = createHash('sha256');
  return { update: (b) => void h.update(b), digest: () => h.digest('hex') };
};

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export class DirChunkStore implements ChunkStore {
  readonly where: string;
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    this.where = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  stored(prefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const f of readdirSync(this.dir)) {
      if (f.startsWith(prefix) && statSync(join(this.dir, f)).isFile()) out.set(f, sha256Hex(readFileSync(join(this.dir, f))));
    }
    return out;
  }
  put(file: string, bytes: Uint8Array): void {
    writeFileDurably(join(this.dir, `.${file}.tmp`), join(this.dir, file), bytes);
  }
}

/** A word for the remote shell, single-quoted. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface SshOptions {
  /** Private key (`ssh -i`); else ssh's own configuration and agent. */
  key?: string;
  /** known_hosts file to check the server against; else ssh's default. */
  knownHosts?: string;
  /** Per ssh command (one per chunk). */
  timeoutMs?: number;
}

export class SshChunkStore implements ChunkStore {
  readonly where: string;
  private readonly args: string[];
  private readonly target: SshTarget;
  private readonly opts: SshOptions;
  /** user@host, as ssh takes it. */
  private readonly destination: string;
  /** The directory of the shared connection's control socket (removed by close()). */
  private readonly control: string | undefined;
  constructor(target: SshTarget, opts: SshOptions = {}) {
    this.target = target;
    this.opts = opts;
    this.where = formatSshUrl(target);
    this.destination = `${target.user ? target.user + '@' : ''}${target.host}`;
    // One connection for every chunk: the first ssh becomes the master (ControlMaster), the others
    // run as sessions over it, so the key exchange and login happen once per save, not per chunk.
    // It ends with close(), or 60 s after its last session if this process dies first.
    // Without a writable temporary directory, every chunk logs in on its own.
    this.control = sharedConnectionDir();
    this.args = [
      ...(this.control ? ['-o', 'ControlMaster=auto', '-o', `ControlPath=${join(this.control, 'master')}`, '-o', 'ControlPersist=60'] : []),
      '-o', 'BatchMode=yes',
      '-o', 'PasswordAuthentication=no',
      '-o', 'KbdInteractiveAuthentication=no',
      '-o', 'ConnectTimeout=15',
      '-o', 'ServerAliveInterval=10',
      '-o', 'ServerAliveCountMax=3',
      ...(target.port ? ['-p', String(target.port)] : []),
      ...(opts.key ? ['-i', opts.key, '-o', 'IdentitiesOnly=yes'] : []),
      ...(opts.knownHosts ? ['-o', `UserKnownHostsFile=${opts.knownHosts}`, '-o', 'StrictHostKeyChecking=yes'] : []),
      this.destination,
    ];
  }

  private run(command: string, input?: Uint8Array): string {
    const r = spawnSync('ssh', [...this.args, command], { input, maxBuffer: 1 << 24, timeout: this.opts.timeoutMs ?? 10 * 60_000 });
    // EPIPE: ssh ended (e.g. could not connect) before it read the chunk; its exit status says why.
    const error = r.error as NodeJS.ErrnoException | undefined;
    if (error && !(error.code === 'EPIPE' && r.status !== null)) {
      const hint = error.code === 'ENOENT' ? 'install openssh-client' : error.code === 'ETIMEDOUT' ? 'the server stopped answering: save again to resume' : undefined;
      throw new OutputError(`${this.where}: ssh failed: ${error.message}`, { path: this.where, hint });
    }
    if (r.status !== 0) {
      const err = r.stderr.toString().trim().split('\n').pop() ?? '';
      const hint =
        r.status === 255
          ? 'check the host, the port, the key (--ssh-key) and that the server knows it; an unknown host key needs ssh-keyscan into --known-hosts'
          : 'check the directory exists or can be created, and the room on the server';
      throw new OutputError(`${this.where}: ${r.signal ? `ssh killed by ${r.signal}` : `ssh exited ${r.status}`}${err ? `: ${err}` : ''}`, { path: this.where, hint });
    }
    return r.stdout.toString();
  }

  stored(prefix: string): Map<string, string> {
    const d = q(this.target.dir);
    const out = this.run(`mkdir -p ${d} && cd ${d} && for f in ${q(prefix)}*; do [ -f "$f" ] && sha256sum "$f"; done; true`);
    const map = new Map<string, string>();
    for (const line of out.split('\n')) {
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (m) map.set(m[2]!, m[1]!);
    }
    return map;
  }

  /** The directory made if missing and checked writable; its free space (df), when the server reports it. */
  probe(): { freeBytes?: number } {
    const d = q(this.target.dir);
    const out = this.run(`mkdir -p ${d} && test -w ${d} && df -Pk ${d} | awk 'END { print $4 }'`);
    const kb = Number(out.trim());
    return Number.isFinite(kb) && out.trim() !== '' ? { freeBytes: kb * 1024 } : {};
  }

  put(file: string, bytes: Uint8Array): void {
    const d = q(this.target.dir);
    const tmp = q(`.${file}.tmp`);
    this.run(`mkdir -p ${d} && cd ${d} && cat > ${tmp} && { sync ${tmp} 2>/dev/null || true; } && mv -f ${tmp} ${q(file)}`, bytes);
  }

  /** Ends the shared connection. */
  close(): void {
    if (!this.control) return;
    spawnSync('ssh', ['-o', `ControlPath=${join(this.control, 'master')}`, '-O', 'exit', this.destination], { stdio: 'ignore', timeout: 10_000 });
    rmSync(this.control, { recursive: true, force: true });
  }
}

function sharedConnectionDir(): string | undefined {
  try {
    return mkdtempSync(join(tmpdir(), 'vmcore-ts-ssh-'));
  } catch {
    return undefined;
  }
}
