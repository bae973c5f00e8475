// A throwaway Debian root for package tests: `mmdebstrap --variant=apt SUITE` plus Debian's nodejs
// and the kexec-ts package's dependencies (so `apt install ./kexec-ts_*.deb` needs no network), built
// once into a tarball under ~/.cache/kexec-ts/debian-root/ and unpacked afresh for every test.
// Commands run in it with chroot, /proc mounted and a policy-rc.d that refuses every service start.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from '../../e2e/harness/cache.ts';
import { hostDebianMirror } from '../../e2e/harness/kernels.ts';
import { debProgramPackages } from './deb-programs.ts';

/** What a root holds besides the apt variant: kexec-ts's Depends/Recommends (and nodejs's recommended CA bundle). */
export const ROOT_PACKAGES = ['ca-certificates', ...debProgramPackages(), 'libdeflate0', 'liblzo2-2'];

export interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Runs a command with a time bound; throws with its output when it fails or times out. */
export function sh(cmd: string, args: string[], timeoutMs: number, opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20, env: opts.env ?? process.env });
  const out = { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.signal) throw new Error(`${cmd} ${args.join(' ')}: killed by ${r.signal} (time bound ${timeoutMs / 1000} s)\n${out.stderr.slice(-2000)}`);
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${out.stdout.slice(-2000)}${out.stderr.slice(-2000)}`);
  return out;
}

/** Why a root cannot be made here, or undefined when it can. */
export function cannotMakeRoot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (chroot, mount)';
  for (const tool of ['mmdebstrap', 'chroot', 'mount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (scripts/install-test-deps.sh)`;
  }
  return undefined;
}

/** The cached root tarball of `suite` with `packages`, built (bounded: 15 min) when missing. Returns it and the build time (0 when cached). */
export function debianRootTarball(suite: string, packages: string[]): { tarball: string; buildSeconds: number } {
  const tarball = join(cacheDir('debian-root'), `${suite}-apt-${packages.join('+')}.tar`);
  if (existsSync(tarball)) return { tarball, buildSeconds: 0 };
  const t0 = Date.now();
  const partial = `${tarball}.${process.pid}.partial.tar`;
  try {
    // sid's Release file on a mirror snapshot can be past its Valid-Until: the root is a test tool, not a system to keep updated.
    const aptopt = '--aptopt=Acquire::Check-Valid-Until "false"';
    sh('mmdebstrap', ['--quiet', '--variant=apt', aptopt, `--include=${packages.join(',')}`, suite, partial, hostDebianMirror()], 15 * 60_000);
    renameSync(partial, tarball);
  } finally {
    rmSync(partial, { force: true });
  }
  return { tarball, buildSeconds: (Date.now() - t0) / 1000 };
}

export interface DebianRoot {
  dir: string;
  /** Runs a command inside the root (chroot), bounded. */
  run(args: string[], timeoutMs?: number, opts?: { allowFail?: boolean }): Run;
  /** Unmounts /proc and deletes the root. */
  dispose(): void;
}

/** A fresh copy of the cached root, with /proc mounted and service starts refused. */
export function openDebianRoot(tarball: string): DebianRoot {
  const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-debroot-'));
  sh('tar', ['-C', dir, '-xf', tarball], 120_000);
  // invoke-rc.d / deb-systemd-invoke ask policy-rc.d first: 101 = action forbidden.
  writeFileSync(join(dir, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
  chmodSync(join(dir, 'usr/sbin/policy-rc.d'), 0o755);
  mkdirSync(join(dir, 'proc'), { recursive: true });
  sh('mount', ['-t', 'proc', 'proc', join(dir, 'proc')], 10_000);
  // A clean environment: the PATH of a root shell, no host variables leaking in.
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };
  return {
    dir,
    run: (args, timeoutMs = 120_000, opts = {}) => sh('chroot', [dir, ...args], timeoutMs, { ...opts, env }),
    dispose() {
      const u = spawnSync('umount', [join(dir, 'proc')], { timeout: 10_000 });
      // Never delete through a mount point that is still there.
      if (u.status !== 0 && spawnSync('mountpoint', ['-q', join(dir, 'proc')]).status === 0) {
        throw new Error(`could not unmount ${dir}/proc; left ${dir} in place`);
      }
      spawnSync('rm', ['-rf', '--one-file-system', dir], { timeout: 60_000 });
    },
  };
}
