// Damaged and hostile grub.cfg files: whatever the bytes, discovery answers with entries, rejections
// and notes (ParseError at FILE:LINE for a file that does not parse), never an internal error, and
// loops and recursion are bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { grubSource } from '../../src/boot/grub.ts';
import { memMachine } from './machine.ts';

const REAL = readFileSync('test/fixtures/boot/debian-trixie/boot/grub/grub.cfg', 'utf8');
const FILES = { '/boot/vmlinuz-6.12.117+deb13-cloud-amd64': 'k', '/boot/initrd.img-6.12.117+deb13-cloud-amd64': 'i' };
const MOUNTS = [{ mountpoint: '/', uuid: 'fa9c21fb-8289-425f-89dc-9a970f378187', from: 't' }];

function discover(src: string) {
  return grubSource.discover(memMachine({ ...FILES, '/boot/grub/grub.cfg': src }, { mounts: MOUNTS }));
}

test('grub.cfg robustness: 400 seeded mutations of the real trixie file (bytes changed, deleted, duplicated) never raise an internal error', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = ' \n;{}[]"\'\\$#x=>-0';
  let parsed = 0;
  for (let k = 0; k < 400; k++) {
    let s = REAL;
    for (let m = 0; m < 1 + rnd(4); m++) {
      const at = rnd(s.length);
      const op = rnd(3);
      if (op === 0) s = s.slice(0, at) + alphabet[rnd(alphabet.length)] + s.slice(at + 1);
      else if (op === 1) s = s.slice(0, at) + s.slice(at + 1 + rnd(40));
      else s = s.slice(0, at) + s.slice(at, at + rnd(200)) + s.slice(at);
    }
    const r = discover(s);
    if (r.entries.length) parsed++;
    for (const x of r.rejected) assert.ok(x.reason.length > 0 && !/internal error/.test(x.reason), x.reason);
  }
  assert.ok(parsed > 100, `most mutations still give entries (${parsed}/400)`);
});

test('grub.cfg robustness: an endless while loop, a recursive function and a file that sources itself are stopped and reported', () => {
  const r = discover("while true; do echo x; done\nfunction f { f }\nf\nmenuentry 'ok' { linux /boot/vmlinuz-6.12.117+deb13-cloud-amd64 }\n");
  assert.deepEqual(r.notes.map((n) => n.replace(/: not evaluated.*/, '')), [
    '/boot/grub/grub.cfg:1: while loop ran 1000 times',
    '/boot/grub/grub.cfg:2: f: functions and source nested more than 32 deep',
  ]);
  assert.equal(r.entries.length, 1);
  const self = grubSource.discover(memMachine({ ...FILES, '/boot/grub/grub.cfg': 'source /boot/grub/grub.cfg\n' }, { mounts: MOUNTS }));
  assert.match(self.notes[0]!, /source: functions and source nested more than 32 deep/);
});
