// The Debian system harness without QEMU: the partition table sfdisk writes from our layout, the
// recipe hash that keys the image cache, the agent's scripts, and the boot-time arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageHash, partitionLayout } from './debian-image.ts';
import { kernelStartHostMs, multiUserHostMs } from './debian-guest.ts';
import { AGENT_LIB, AGENT_SCRIPT } from './guest-scripts.ts';
import type { Marker } from './scenario.ts';

const hasSfdisk = spawnSync('sfdisk', ['--version']).status === 0;

test('debian image layout: sfdisk makes a GPT with BIOS boot (1 MiB), ESP (64 MiB) and a root partition ending 1 MiB before the end', { skip: hasSfdisk ? false : 'sfdisk (fdisk) is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'debimg-'));
  try {
    const img = join(dir, 'disk.raw');
    const fd = openSync(img, 'w');
    ftruncateSync(fd, 4096 * 1024 * 1024);
    closeSync(fd);
    const layout = partitionLayout(4096);
    execFileSync('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', img], { input: layout.sfdisk });
    const pt = JSON.parse(execFileSync('sfdisk', ['--json', img], { encoding: 'utf8' })).partitiontable;
    assert.equal(pt.label, 'gpt');
    const parts = pt.partitions.map((p: { start: number; size: number; type: string; name: string }) => [p.name, p.start, p.size, p.type]);
    assert.deepEqual(parts, [
      ['bios', 2048, 2048, '21686148-6449-6E6F-744E-656564454649'],
      ['esp', 4096, 131072, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'],
      ['root', 135168, 4096 * 2048 - 135168 - 2048, '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('debian image cache key: the recipe hash is stable and differs per suite and variant', () => {
  assert.equal(imageHash('trixie', 'base'), imageHash('trixie', 'base'));
  assert.match(imageHash('trixie', 'base'), /^[0-9a-f]{12}$/);
  const all = new Set([imageHash('trixie', 'base'), imageHash('bookworm', 'base'), imageHash('trixie', 'kdump-tools')]);
  assert.equal(all.size, 3);
});

test('debian agent: its script and helper library are valid bash', () => {
  for (const [name, text] of [['e2e-agent', AGENT_SCRIPT], ['lib.sh', AGENT_LIB]] as const) {
    const r = spawnSync('bash', ['-n'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
  }
});

test('debian boot timing: multi-user.target and kernel start in host time, from the agent markers (guest uptime, monotonic µs)', () => {
  const markers: Marker[] = [
    { stage: 'first', name: 'boot', uptime: 70.5, value: '6.12', hostMs: 80_000 },
    { stage: 'first', name: 'multi-user', uptime: 71, value: '65000000', hostMs: 80_600 },
    { stage: 'first', name: 'broken', uptime: 71, value: '', hostMs: 80_600 },
  ];
  const r = {
    marker: (stage: string, name: string) => {
      const m = markers.find((x) => x.stage === stage && x.name === name);
      if (!m) throw new Error(`no ${stage}:${name}`);
      return m;
    },
  };
  assert.equal(multiUserHostMs(r, 'first'), 80_600 - 6_000);
  assert.equal(kernelStartHostMs(r, 'first'), 9_500);
  assert.throws(() => multiUserHostMs({ marker: () => markers[2]! }, 'first'), /no ActiveEnterTimestampMonotonic/);
});
