import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NODE_FLAGS } from '../../src/node-args.ts';

test('packaging/kdump-ts.service: loads at boot with kdump-ts load --status (one process), unloads on stop; systemd-analyze verify accepts it', (t) => {
  const unit = readFileSync('packaging/kdump-ts.service', 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/env kdump-ts load --status$/m, 'one process loads and logs the status report');
  assert.doesNotMatch(unit, /^ExecStartPost=/m, 'no second Node.js start for the status');
  assert.match(unit, /^ExecStop=\/usr\/bin\/env kdump-ts unload$/m);
  assert.match(unit, /^Type=oneshot$/m);
  assert.match(unit, /^RemainAfterExit=yes$/m);
  assert.match(unit, /^WantedBy=multi-user.target$/m);
  const r = spawnSync('systemd-analyze', ['verify', 'packaging/kdump-ts.service'], { encoding: 'utf8' });
  if (r.error) return t.skip('systemd-analyze is not installed');
  // verify complains about the ExecStart binary only when /usr/bin/env is missing; nothing else may show.
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', r.stderr);
});

test('packaging/kdump-ts.rules: CPU and memory online/offline restart the active service (the kexec_load header would be stale); coldplug add events and a load in progress are left alone', () => {
  const rules = readFileSync('packaging/kdump-ts.rules', 'utf8');
  assert.match(rules, /^SUBSYSTEM=="cpu", ACTION=="online\|offline", GOTO="kdump_ts_reload"$/m);
  assert.match(rules, /^SUBSYSTEM=="memory", ACTION=="online\|offline", GOTO="kdump_ts_reload"$/m);
  // udev's coldplug (udevadm trigger --action=add) must not restart the unit while it starts at boot
  assert.doesNotMatch(rules.replace(/^#.*$/gm, ''), /\badd\b/);
  assert.match(rules, /^RUN\+="\/bin\/sh -c '\/bin\/systemctl --quiet is-active kdump-ts\.service && exec \/bin\/systemctl --no-block try-restart kdump-ts\.service'"$/m);
  // every GOTO has its LABEL
  for (const [, label] of rules.matchAll(/GOTO="([^"]+)"/g)) assert.match(rules, new RegExp(`^LABEL="${label}"$`, 'm'));
});

test('npm pack: the package carries LICENSE, README, the three bins and the systemd unit and udev rules the README tells users to copy', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/kexec-ts.mjs', 'bin/kdump-ts.mjs', 'bin/vmcore-ts.mjs', 'packaging/kdump-ts.service', 'packaging/kdump-ts.rules']) {
    assert.ok(files.has(f), `${f} is in the package`);
  }
  assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('fixtures/')), 'no sources, tests or fixtures');
  assert.match(readFileSync('LICENSE', 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 the kexec-ts authors\n/);
  assert.equal((JSON.parse(readFileSync('package.json', 'utf8')) as { license: string }).license, 'MIT');
});

test('npm ci needs only Node.js: no package to install compiles anything (only esbuild and koffi run install scripts, both prebuilt)', () => {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean; dependencies?: Record<string, string> }> };
  const scripted = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([k]) => k);
  assert.deepEqual(scripted.sort(), ['node_modules/esbuild', 'node_modules/koffi']);
  for (const [name, p] of Object.entries(lock.packages)) {
    for (const dep of ['node-gyp', 'bindings', 'nan', 'node-addon-api']) assert.ok(!p.dependencies?.[dep], `${name} builds a native addon (${dep})`);
  }
  assert.ok(!('node_modules/lzo' in lock.packages), 'the lzo addon is gone: LZO1X is checked against liblzo2 through koffi');
});

/** A tree standing for an image being installed into without chroot: kdump-ts there records its arguments and writes -o. */
function dpkgRootImage(): { dir: string; bin: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-dpkg-root-'));
  const bin = mkdtempSync(join(tmpdir(), 'kdump-host-bin-'));
  const put = (p: string, text: string, mode = 0o644) => {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text, { mode });
  };
  put('usr/bin/kdump-ts', `#!/bin/sh\necho "$*" >> "${dir}/calls"\nwhile [ $# -gt 1 ]; do [ "$1" = -o ] && echo img > "$2"; shift; done\n`, 0o755);
  put('etc/kernel/postinst.d/kdump-ts', readFileSync('packaging/deb/kernel-postinst', 'utf8'), 0o755);
  put('boot/vmlinuz-6.12.0-1-amd64', 'kernel');
  // The building host's tools: any call of them is recorded (none may happen).
  for (const tool of ['update-grub', 'systemctl', 'deb-systemd-invoke', 'deb-systemd-helper']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "host ${tool} $*" >> "${dir}/calls"\n`, { mode: 0o755 });
  }
  const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []);
  return { dir, bin, calls };
}

test('maintainer scripts with DPKG_ROOT (installed without chroot into an image): the image\'s kdump-ts builds the capture initramfs with --root into the image; update-grub and systemctl of the building host are never run', () => {
  const { dir, bin, calls } = dpkgRootImage();
  const env = { ...process.env, DPKG_ROOT: dir, PATH: `${bin}:/usr/bin:/bin` };
  const post = spawnSync('sh', ['packaging/deb/postinst', 'configure', ''], { encoding: 'utf8', env });
  assert.equal(post.status, 0, post.stderr);
  const out = `${dir}/var/lib/kdump-ts/initrd.img-6.12.0-1-amd64`;
  assert.deepEqual(calls().filter((c) => !c.startsWith('host deb-systemd-helper')), [`mkinitrd --root ${dir} --release 6.12.0-1-amd64 -o ${out}.new`]);
  assert.equal(readFileSync(out, 'utf8'), 'img\n');
  assert.ok(existsSync(join(dir, 'var/crash')), 'the image\'s /var/crash');
  // The kernel's removal and the package's purge delete the image's files, not the host's.
  const rm = spawnSync('sh', ['packaging/deb/kernel-postrm', '6.12.0-1-amd64'], { encoding: 'utf8', env });
  assert.equal(rm.status, 0, rm.stderr);
  assert.ok(!existsSync(out));
  assert.equal(spawnSync('sh', ['packaging/deb/postrm', 'remove'], { encoding: 'utf8', env }).status, 0);
  assert.equal(spawnSync('sh', ['packaging/deb/postrm', 'purge'], { encoding: 'utf8', env }).status, 0);
  assert.ok(!existsSync(join(dir, 'var/lib/kdump-ts')));
  assert.deepEqual(calls().filter((c) => /^host (update-grub|systemctl|deb-systemd-invoke)/.test(c)), []);
});

test('kernel postinst hook with DPKG_ROOT: a failed build is reported with the --root command to run, and does not fail the kernel\'s installation', () => {
  const { dir } = dpkgRootImage();
  writeFileSync(join(dir, 'usr/bin/kdump-ts'), '#!/bin/sh\necho "kdump-ts: the dump target /var/crash is on no filesystem of /etc/fstab" >&2\nexit 1\n', { mode: 0o755 });
  const r = spawnSync('sh', ['packaging/deb/kernel-postinst', '6.12.0-1-amd64'], { encoding: 'utf8', env: { ...process.env, DPKG_ROOT: dir } });
  assert.equal(r.status, 0);
  assert.ok(r.stderr.endsWith(`W: kdump-ts: no capture initramfs for 6.12.0-1-amd64; fix the error above, then run: kdump-ts mkinitrd --root ${dir} --release 6.12.0-1-amd64 -o ${dir}/var/lib/kdump-ts/initrd.img-6.12.0-1-amd64\n`), r.stderr);
});

test('bin/kexec-ts.mjs, kdump-ts.mjs, vmcore-ts.mjs and vmcore-ts.cjs start node as the capture init runs it (a 1 MiB young generation: a save stays under 128 MiB of RSS; no concurrent TurboFan: Node 20 can hang at exit), and run when executed directly', () => {
  assert.equal(NODE_FLAGS, '--max-semi-space-size=1 --no-concurrent-recompilation');
  for (const bin of ['bin/kexec-ts.mjs', 'bin/kdump-ts.mjs', 'bin/vmcore-ts.mjs', 'bin/vmcore-ts.cjs']) {
    const first = readFileSync(bin, 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS}`);
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^(kexec|kdump|vmcore)-ts \d/);
  }
});
