import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpioArchive, NEWC_HEADER_SIZE, archivePath, decodeNewcHeader, S_IFDIR, S_IFREG } from './cpio.ts';

const concat = (chunks: Uint8Array[]) => Buffer.concat(chunks);

test('cpio: every entry header and name and data start on a 4-byte boundary and the archive ends with TRAILER!!!', () => {
  const a = new CpioArchive().file('a', 'x').file('bb/c.txt', 'hello').symlink('l', 'a');
  const bytes = concat(a.encode());
  const names: string[] = [];
  let off = 0;
  for (let guard = 0; guard < 100; guard++) {
    assert.equal(off % 4, 0);
    const h = decodeNewcHeader(bytes, off);
    const name = bytes.subarray(off + NEWC_HEADER_SIZE, off + NEWC_HEADER_SIZE + h.namesize - 1).toString();
    names.push(name);
    off += NEWC_HEADER_SIZE + h.namesize;
    off += (4 - (off % 4)) % 4;
    off += h.filesize;
    off += (4 - (off % 4)) % 4;
    if (name === 'TRAILER!!!') break;
  }
  assert.equal(off, bytes.length);
  assert.deepEqual(names, ['a', 'bb', 'bb/c.txt', 'l', 'TRAILER!!!']);
});

test('cpio: parent directories are added before their files; a path added twice keeps the last content', () => {
  const a = new CpioArchive().file('x/y/z', 'one').file('x/y/z', 'two');
  assert.deepEqual(a.paths(), ['x', 'x/y', 'x/y/z']);
  const e = a.get('/x/y/z');
  assert.ok(e && e.type === 'file');
  assert.equal(Buffer.from(e.data).toString(), 'two');
  const h = decodeNewcHeader(concat(a.encode()));
  assert.equal(h.mode, S_IFDIR | 0o755);
});

test('cpio: paths are normalised and ".." is refused', () => {
  assert.equal(archivePath('/usr//bin/./node'), 'usr/bin/node');
  assert.throws(() => archivePath('a/../b'), /\.\./);
});

test('cpio: GNU cpio lists and extracts our archive with the same files, modes and symlinks', (t) => {
  const probe = spawnSync('cpio', ['--version']);
  if (probe.error) return t.skip('cpio is not installed (apt-get install cpio)');
  const data = new Uint8Array(10_001).map((_, i) => (i * 7) & 0xff);
  const a = new CpioArchive()
    .file('bin/tool', data, 0o755)
    .file('etc/conf', 'k=v\n')
    .symlink('bin/sh', 'tool')
    .add({ type: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  const archive = concat(a.encode());
  const list = spawnSync('cpio', ['-t', '--quiet'], { input: archive, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(list.stdout.trim().split('\n'), ['bin', 'bin/tool', 'etc', 'etc/conf', 'bin/sh', 'dev', 'dev/console']);
  const dir = mkdtempSync(join(tmpdir(), 'cpio-test-'));
  try {
    const x = spawnSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: dir, encoding: 'utf8' });
    assert.equal(x.status, 0, x.stderr);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'bin/tool'))), data);
    assert.equal(statSync(join(dir, 'bin/tool')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, 'bin/tool')).mode & 0o170000, S_IFREG);
    assert.equal(readFileSync(join(dir, 'etc/conf'), 'utf8'), 'k=v\n');
    assert.equal(readlinkSync(join(dir, 'bin/sh')), 'tool');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
