// What the host must have for real-kernel tests, and which suites/CPUs a run covers (from env).
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SUITES } from './kernels.ts';

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const NEEDS: [string, string][] = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['mke2fs', 'e2fsprogs'],
  ['debugfs', 'e2fsprogs'],
  ['apt-get', 'apt'],
  ['dpkg-deb', 'dpkg'],
  ['timeout', 'coreutils'],
  ['ldd', 'libc-bin'],
  ['xz', 'xz-utils'],
];

/** Why e2e tests cannot run here (undefined when they can). */
export function e2eSkipReason(opts: { referenceTools?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'real-kernel tests need an x86_64 Linux host';
  if (suites().length === 0) return 'E2E_SUITES=none';
  const missing = new Set<string>();
  for (const [cmd, pkg] of NEEDS) if (!onPath(cmd)) missing.add(pkg);
  if (!existsSync('/bin/busybox')) missing.add('busybox-static');
  if (opts.referenceTools) {
    if (!onPath('kexec')) missing.add('kexec-tools');
    if (!onPath('makedumpfile')) missing.add('makedumpfile');
  }
  if (missing.size) return `missing host packages: ${[...missing].join(' ')} (run: bash scripts/install-test-deps.sh as root)`;
  return undefined;
}

/** E2E_REQUIRE=1 (set by scripts/test.sh when run as root, as CI does): a missing capability fails instead of skipping. */
export const e2eRequired = (): boolean => process.env.E2E_REQUIRE === '1';

/** Suites to test: E2E_SUITES=bookworm,trixie (default), "all", or "none". */
export function suites(): string[] {
  const v = (process.env.E2E_SUITES ?? 'bookworm,trixie').trim();
  if (v === 'none' || v === '') return [];
  if (v === 'all') return [...SUITES];
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The CPU models E2E_CPUS lists ("auto" or unset: both, 5-level 'max' first, then 4-level 'qemu64'). */
export function cpus(): string[] {
  const v = (process.env.E2E_CPUS ?? 'auto').trim();
  if (v === 'auto') return ['max', 'qemu64'];
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The CPU model of the kdump-ts scenarios (our whole chain): the first E2E_CPUS lists, 5-level 'max' by default. */
export const kdumpTsCpu = (): string => cpus()[0] ?? 'max';

/**
 * CPU models for a suite's kdump scenario: E2E_CPUS=max,qemu64 runs each suite on both 5-level
 * ('max') and 4-level ('qemu64') paging; the default, "auto", alternates them across the suites
 * (bookworm 4-level, trixie 5-level, ...) to keep CI short while covering both.
 */
export function cpusFor(suite: string): string[] {
  if ((process.env.E2E_CPUS ?? 'auto').trim() !== 'auto') return cpus();
  const i = Math.max(0, suites().indexOf(suite));
  return [i % 2 === 0 ? 'qemu64' : 'max'];
}

/** E2E_DEBIAN as suites: `1` trixie, `all` trixie and bookworm, `none`/`0` none, or a list; unset: undefined. */
function debianEnv(): string[] | undefined {
  const v = process.env.E2E_DEBIAN?.trim();
  if (v === undefined || v === '') return undefined;
  if (v === '0' || v === 'none') return [];
  if (v === '1') return ['trixie'];
  if (v === 'all') return ['trixie', 'bookworm'];
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Suites of the real Debian system scenarios that run in `npm test` (e2e/debian-lifecycle.test.ts):
 * trixie, and bookworm too with E2E_SUITES=all (`npm run e2e -- --all`); none with E2E_SUITES=none;
 * E2E_DEBIAN, when set, decides.
 */
export function debianSuites(): string[] {
  const asked = debianEnv();
  if (asked) return asked;
  if (suites().length === 0) return [];
  return (process.env.E2E_SUITES ?? '').trim() === 'all' ? ['trixie', 'bookworm'] : ['trixie'];
}

/**
 * Suites of the opt-in Debian reference scenarios (plain firmware boots, Debian's kdump-tools):
 * only when E2E_DEBIAN asks (`npm run e2e -- --debian`: trixie; with --all bookworm too).
 */
export const debianOptInSuites = (): string[] => debianEnv() ?? [];

const DEBIAN_NEEDS: [string, string][] = [
  ['mmdebstrap', 'mmdebstrap'],
  ['sfdisk', 'fdisk'],
  ['qemu-img', 'qemu-utils'],
];

/** Why the Debian system scenarios (`optIn`: the reference ones) cannot run here (undefined when they can). */
export function debianSkipReason(optIn = false): string | undefined {
  if (optIn && debianOptInSuites().length === 0) return 'opt-in: npm run e2e -- --debian (E2E_DEBIAN=1)';
  if (!optIn && debianSuites().length === 0) return debianEnv() ? 'E2E_DEBIAN=none' : 'E2E_SUITES=none';
  const base = e2eSkipReason();
  if (base && base !== 'E2E_SUITES=none') return base;
  const missing = DEBIAN_NEEDS.filter(([cmd]) => !onPath(cmd)).map(([, pkg]) => pkg);
  if (!existsSync('/usr/share/ovmf/OVMF.fd')) missing.push('ovmf');
  if (missing.length) return `missing host packages: ${missing.join(' ')} (run: bash scripts/install-test-deps.sh as root)`;
  if (process.getuid?.() !== 0) return 'building the Debian system images needs root (mmdebstrap --mode=root)';
  return undefined;
}

/** The skip option of a Debian system test: the reason, or false (also when E2E_REQUIRE=1 and the suites were asked for: then it fails). */
export function debianSkipOption(optIn = false): string | false {
  const why = debianSkipReason(optIn);
  const asked = optIn ? debianOptInSuites() : debianSuites();
  return why && !(e2eRequired() && asked.length) ? why : false;
}
