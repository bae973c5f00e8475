// UAPI version order (src/boot/version.ts): the Version Format Specification's examples and the
// corner cases systemd's strverscmp_improved tests pin down where the prose is ambiguous.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions } from '../../src/boot/version.ts';

const sign = (a: string, b: string) => Math.sign(compareVersions(a, b));

test('version order: the specification\'s examples (numbers, letters, ".", separators _ and + ignored)', () => {
  const cases: [string, string, number][] = [
    ['11', '11', 0], ['systemd-123', 'systemd-123', 0], ['bar-123', 'foo-123', -1], ['123a', '123', 1], ['123.a', '123', 1],
    ['123.a', '123.b', -1], ['123a', '123.a', 1], ['11α', '11β', 0], ['A', 'a', -1], ['', '0', -1], ['0.', '0', 1], ['0.0', '0', 1],
    ['1_', '1', 0], ['_1', '1', 0], ['1_', '1.2', -1], ['1_2_3', '1.3.3', 1], ['1+', '1', 0], ['+1', '1', 0], ['1+2+3', '1.3.3', 1],
  ];
  for (const [a, b, r] of cases) {
    assert.equal(sign(a, b), r, `${a} vs ${b}`);
    assert.equal(sign(b, a), 0 - r || 0, `${b} vs ${a}`);
  }
});

test('version order: "~" is older even than the end of the string, "-", "^", "." older than any other character there', () => {
  const ascending = ['~1', '', 'ab', 'abb', 'abc', '0001', '002', '12', '122', '122.9', '123~rc1', '123', '123-a', '123-a.1', '123-a1', '123-a1.1', '123-3', '123-3.1', '123^patch1', '123^1', '123.a-1', '123.1-1', '123a-1', '124'];
  for (let i = 0; i < ascending.length; i++)
    for (let j = i + 1; j < ascending.length; j++) assert.ok(compareVersions(ascending[i]!, ascending[j]!) < 0 && compareVersions(ascending[j]!, ascending[i]!) > 0, `${ascending[i]} < ${ascending[j]}`);
  assert.equal(sign('1.0~rc1', '1.0'), -1);
  assert.equal(sign('1.0^', '1.0'), 1);
  assert.equal(sign('123..0', '123.0'), -1);
  assert.equal(sign('10.0001', '10.1'), 0);
  assert.equal(sign('6.12.117+deb13-cloud-amd64', '6.1.0-50-cloud-amd64'), 1);
});
