// Our Debian package in the real Debian guests (issue 12): built on the host with
// scripts/build-deb.mjs, installed by the agent with apt-get from the job disk in the image's
// kexec-ts-deps variant (its dependencies preinstalled: the guest has no network).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './initramfs.ts';
import { E2EStepError } from './steps.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

/**
 * Builds kexec-ts_VERSION_amd64.deb into a fresh `outDir`; returns its file name and bytes (for the
 * job disk). For `suite` bookworm (nodejs 18) the README's route: `--bundled-node 22`.
 */
export function buildDeb(outDir: string, suite: string): { name: string; bytes: Buffer } {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const bundled = suite === 'bookworm' ? ['--bundled-node', '22'] : [];
  execFileSync(process.execPath, [...NODE_ARGS, join(REPO, 'scripts', 'build-deb.mjs'), '--out', outDir, ...bundled], { stdio: ['ignore', 'pipe', 'inherit'] });
  const name = readdirSync(outDir).find((f) => /^kexec-ts_.*_amd64\.deb$/.test(f));
  if (!name) throw new E2EStepError('disk', `scripts/build-deb.mjs left no .deb in ${outDir}`);
  return { name, bytes: readFileSync(join(outDir, name)) };
}

/**
 * Stage lines: apt-get install ./kexec-ts_*.deb from the job disk, then markers installed (version),
 * grub-crashkernel (the crashkernel= update-grub wrote), enabled (the unit) and capture-initrds
 * (/var/lib/kdump-ts). The next boot (a firmware reboot) has crashkernel= and the unit armed.
 */
export const DEB_INSTALL_STAGE = `deb=$(ls $JOB/kexec-ts_*.deb)
check install apt-get install -y -q "$deb"
mark installed "$(dpkg-query -W -f '\${Version}' kexec-ts)"
mark grub-crashkernel "$(grep -o 'crashkernel=[^ ]*' /boot/grub/grub.cfg | sort -u | xargs)"
mark enabled "$(systemctl is-enabled kdump-ts)"
mark capture-initrds "$(ls /var/lib/kdump-ts | xargs)"`;

/** Marker value of a command's output lines joined by spaces (no xargs: journal lines have quotes). */
export const lines = (cmd: string): string => `"$(${cmd} | tr '\\n' ' ')"`;
