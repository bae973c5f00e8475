// capture = root (the small capture initramfs): the capture kernel's initramfs holds busybox, the
// virtio modules and /init only; it mounts the scratch disk — the guest's "root file system" with
// Node.js and our bundle, and the dump target — and runs vmcore-ts save from it (chroot). The dump
// saves at crashkernel=E2E_SMALL_CRASHKERNEL (default 256M, where the initramfs mode needs more) and
// vmcore-ts and makedumpfile read it. bench/crashkernel-min.ts bisects the smallest reservation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kdumpTsCpu, suites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload } from './harness/testing.ts';
import { runCapture } from './kdump-ts-small.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const CRASHKERNEL = Number(process.env.E2E_SMALL_CRASHKERNEL ?? '256');

for (const suite of suites().slice(0, 1)) {
  test(`e2e ${suite}: capture = root: a small capture initramfs (no Node.js) mounts the root file system, runs vmcore-ts save from it at crashkernel=${CRASHKERNEL}M; the dump opens`, async (t) => {
    if (cannotRun(t)) return;
    if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
    await orSkipOnDownload(t, async () => {
      const r = await runCapture({ suite, cpu: kdumpTsCpu(), crashkernelMiB: CRASHKERNEL, mode: 'root', log });
      t.diagnostic(r.mkinitrd.trim());
      assert.match(r.mkinitrd, /capture mode: root: /);
      const size = /unpacks to ([\d.]+) MiB/.exec(r.mkinitrd);
      assert.ok(size && Number(size[1]) < 16, `the capture initramfs unpacks to under 16 MiB (${size?.[1]})`);
      assert.ok(r.ok, `${r.why} (console: ${r.result ? join(r.result.outDir, 'console.log') : 'none'})`);
      assert.match(r.result!.console, /kdump-ts: running node from the root file system \/dev\/vda/);
      if (r.lowestMemAvailableKiB !== undefined) t.diagnostic(`lowest MemAvailable during the save: ${(r.lowestMemAvailableKiB / 1024).toFixed(1)} MiB at crashkernel=${CRASHKERNEL}M`);
      r.result!.cleanup();
    });
  });
}
