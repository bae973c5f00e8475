// A throwaway PostgreSQL server for tests: initdb in a temp directory as an unprivileged user
// (postgres refuses root), listening on a unix socket in that directory only (no TCP port), fsync
// off; stopped by the postmaster's own PID (from postmaster.pid), never by name.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'].find((d) => existsSync(join(d, 'postgres')));
const USER = 'nobody';

export interface PgServer {
  /** postgres://… for the `pg` package (the socket directory as the host). */
  url: string;
  stop(): Promise<void>;
}

/** Why no server can be started here, or undefined. */
export function pgMissing(): string | undefined {
  if (!BIN) return 'needs the postgresql package (scripts/install-test-deps.sh)';
  if (process.getuid?.() !== 0 && spawnSync('id', ['-u']).stdout.toString().trim() !== '0') {
    // As a non-root user initdb runs as that user.
    return undefined;
  }
  if (spawnSync('runuser', ['--help']).error) return 'needs runuser (util-linux) to run postgres as an unprivileged user';
  return undefined;
}

export async function startPg(): Promise<PgServer> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'pg-test-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  if (root) {
    chownSync(dir, 65534, 65534);
    chownSync(sock, 65534, 65534);
  }
  const as = (cmd: string, args: string[]) => (root ? ['runuser', ['-u', USER, '--', cmd, ...args]] : [cmd, args]) as [string, string[]];
  const init = spawnSync(...as(join(BIN!, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']), { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const child = spawn(...as(join(BIN!, 'postgres'), ['-D', data, '-k', sock, '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  // Ready when the socket answers.
  for (let i = 0; ; i++) {
    const r = spawnSync(join(BIN!, 'pg_isready'), ['-h', sock, '-U', 'postgres', '-q']);
    if (r.status === 0) break;
    if (i > 300 || child.exitCode !== null) {
      child.kill('SIGTERM');
      throw new Error(`postgres did not start: ${log.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pmPid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: `postgres://postgres@${encodeURIComponent(sock)}/postgres`,
    async stop() {
      // SIGINT: postgres' fast shutdown; wait for the postmaster (and so runuser) to end.
      try {
        process.kill(pmPid, 'SIGINT');
      } catch {
        // already gone
      }
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
