import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

test('packaging/kdump-ts.service: loads at boot with kdump-ts load, unloads on stop; systemd-analyze verify accepts it', (t) => {
  const unit = readFileSync('packaging/kdump-ts.service', 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/env kdump-ts load$/m);
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

test('packaging/kdump-ts.rules: CPU and memory hotplug restart the service (the kexec_load header would be stale)', () => {
  const rules = readFileSync('packaging/kdump-ts.rules', 'utf8');
  assert.match(rules, /^SUBSYSTEM=="cpu", ACTION=="add\|remove\|online\|offline", GOTO="kdump_ts_reload"$/m);
  assert.match(rules, /^SUBSYSTEM=="memory", ACTION=="add\|remove\|online\|offline", GOTO="kdump_ts_reload"$/m);
  assert.match(rules, /^RUN\+="\/bin\/systemctl --no-block try-restart kdump-ts\.service"$/m);
  // every GOTO has its LABEL
  for (const [, label] of rules.matchAll(/GOTO="([^"]+)"/g)) assert.match(rules, new RegExp(`^LABEL="${label}"$`, 'm'));
});
