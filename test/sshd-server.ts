// A throwaway OpenSSH server for tests: its own host key, one authorized client key, no passwords,
// listening on 127.0.0.1 only, stopped by its PID. Used by test/dump/ssh-target.test.ts and by the
// e2e guests that send dumps over ssh (through QEMU's forward to 127.0.0.1).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

const SSHD = '/usr/sbin/sshd';

/** Why no test sshd can run here, or undefined. */
export const sshdMissing: string | undefined =
  !existsSync(SSHD) || spawnSync('ssh', ['-V']).error ? 'needs openssh-server and openssh-client (scripts/install-test-deps.sh)' : undefined;

export class TestSshd {
  readonly dir: string;
  readonly user = userInfo().username;
  port = 0;
  private proc: ChildProcess | undefined;
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'test-sshd-'));
  }
  /** The authorized client's private key; `other` is a key the server does not know. */
  get clientKey(): string {
    return join(this.dir, 'client');
  }
  get otherKey(): string {
    return join(this.dir, 'other');
  }
  /** known_hosts naming this server as HOST:PORT (a guest's view of it, or 127.0.0.1:port). */
  knownHosts(host = '127.0.0.1', port = this.port): string {
    const file = join(this.dir, `known_hosts-${host}-${port}`);
    writeFileSync(file, `[${host}]:${port} ${readFileSync(join(this.dir, 'host.pub'), 'utf8')}`);
    return file;
  }

  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      for (const k of ['host', 'client', 'other']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(this.dir, k)]);
      writeFileSync(join(this.dir, 'authorized_keys'), readFileSync(join(this.dir, 'client.pub')));
      mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory
      writeFileSync(
        join(this.dir, 'sshd_config'),
        [
          `Port ${this.port}`,
          'ListenAddress 127.0.0.1',
          `HostKey ${join(this.dir, 'host')}`,
          `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
          `PidFile ${join(this.dir, 'sshd.pid')}`,
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PermitRootLogin prohibit-password',
          'StrictModes no',
          'UsePAM no',
        ].join('\n') + '\n',
      );
    }
    this.proc = spawn(SSHD, ['-D', '-e', '-f', join(this.dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Ready when the port accepts a real login.
    for (let i = 0; i < 100; i++) {
      if (this.ssh(['true']).status === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the test sshd did not come up on 127.0.0.1');
  }

  /** Runs a command on the server as the test user. */
  ssh(cmd: string[]) {
    const args = ['-o', 'BatchMode=yes', '-p', String(this.port), '-i', this.clientKey, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${this.knownHosts()}`, `${this.user}@127.0.0.1`];
    return spawnSync('ssh', [...args, ...cmd], { encoding: 'utf8' });
  }

  /** Stops the listening server (connections already open finish). */
  stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  /**
   * Cuts the network under the clients: the listener stops and every connection it accepted is
   * killed (sshd's children, by PID: ours), as a cable pulled mid-transfer.
   */
  async cut(): Promise<void> {
    const pid = this.proc?.pid;
    const children = pid ? descendants(pid) : [];
    await this.stop();
    for (const c of children) {
      try {
        process.kill(c, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The PIDs of a process's children, grandchildren, … (from /proc). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const kids = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  for (const k of kids(pid)) out.push(k, ...descendants(k));
  return out;
}
