import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
