import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Btf } from '../src/analyze/btf.ts';
import { ParseError } from '../src/errors.ts';

// A tiny BTF blob built by hand: int, struct with a bitfield, pointer, array, enum64, typedef.
function buildBtf(): Uint8Array {
  const strs = ['', 'int', 'foo', 'a', 'flag', 'next', 'arr', 'e', 'BIG', 'foo_t', 'x'];
  const strOff: Record<string, number> = {};
  let s = '';
  for (const x of strs) {
    strOff[x] = s.length;
    s += x + '\0';
  }
  const words: number[] = [];
  const type = (name: string, kind: number, vlen: number, kflag: boolean, sizeOrType: number) =>
    words.push(strOff[name]!, ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType);
  type('int', 1, 0, false, 4); // 1: int
  words.push((1 << 24) | 32); //   signed, 32 bits
  type('foo', 4, 4, true, 24); // 2: struct foo (kind_flag: bitfield offsets)
  words.push(strOff.a!, 1, 0); //   int a at bit 0
  words.push(strOff.flag!, 1, (3 << 24) | 32); //   int flag:3 at bit 32
  words.push(strOff.next!, 3, 64); //   struct foo *next at bit 64
  words.push(strOff.arr!, 4, 128); //   int arr[2] at bit 128
  type('', 2, 0, false, 2); // 3: ptr -> struct foo
  type('', 3, 0, false, 0); // 4: array
  words.push(1, 1, 2);
  type('e', 19, 1, true, 8); // 5: enum64 e (signed)
  words.push(strOff.BIG!, 0xfffffffe, 0xffffffff); //   BIG = -2
  type('foo_t', 8, 0, false, 2); // 6: typedef struct foo foo_t
  const typeBytes = new Uint8Array(new Uint32Array(words).buffer);
  const strBytes = new TextEncoder().encode(s);
  const out = new Uint8Array(24 + typeBytes.length + strBytes.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, true);
  dv.setUint8(2, 1);
  dv.setUint32(4, 24, true);
  dv.setUint32(8, 0, true);
  dv.setUint32(12, typeBytes.length, true);
  dv.setUint32(16, typeBytes.length, true);
  dv.setUint32(20, strBytes.length, true);
  out.set(typeBytes, 24);
  out.set(strBytes, 24 + typeBytes.length);
  return out;
}

test('BTF: hand-built types decode with member offsets, bitfields, arrays, enum64 and typedefs', () => {
  const b = Btf.parse(buildBtf());
  assert.equal(b.count, 7);
  assert.equal(b.damage, undefined);
  const foo = b.get('struct foo');
  assert.equal(foo.size, 24);
  assert.deepEqual(b.member(foo, 'flag'), { offset: 4, bitOffset: 32, bitSize: 3, typeId: 1 });
  assert.equal(b.offsetOf('foo_t', 'arr'), 16);
  assert.equal(b.sizeOf(4), 8);
  assert.equal(b.typeName(b.member(foo, 'next').typeId), 'struct foo *');
  assert.equal(b.typeName(4), 'int[2]');
  assert.equal(b.get('enum e').values![0]!.value, -2n);
  assert.equal(b.resolve(6).name, 'foo');
  assert.throws(() => b.member(foo, 'nope'), /has no member 'nope'/);
});

test('BTF: damaged type data stops at the damage and keeps the types before it', () => {
  const bytes = buildBtf();
  // Type 4 (array) starts after 3 types: 16 + 12+4*12 + 12 bytes into the type section; give it kind 31.
  const off = 24 + 16 + 60 + 12;
  new DataView(bytes.buffer).setUint32(off + 4, 31 << 24, true);
  const b = Btf.parse(bytes, 'damaged');
  assert.match(b.damage!, /type 4 at offset \d+: unknown kind 31/);
  assert.equal(b.count, 4);
  assert.equal(b.get('struct foo').size, 24);
  assert.throws(() => b.type(5), /does not exist.*damaged/);
  assert.throws(() => Btf.parse(bytes.subarray(0, 30)), ParseError);
  const bad = buildBtf();
  bad[0] = 0;
  assert.throws(() => Btf.parse(bad), /bad magic/);
});

const HOST_BTF = '/sys/kernel/btf/vmlinux';
test('BTF: the host kernel BTF parses completely and has the task_struct layout the analysis uses', { skip: !existsSync(HOST_BTF) && 'no /sys/kernel/btf/vmlinux' }, () => {
  const b = Btf.parse(new Uint8Array(readFileSync(HOST_BTF)), HOST_BTF);
  assert.equal(b.damage, undefined);
  assert.ok(b.count > 10000, `only ${b.count} types`);
  const ts = b.get('struct task_struct');
  for (const m of ['pid', 'tgid', 'comm', 'tasks', 'real_parent', 'thread.sp', 'stack', 'signal']) {
    const r = b.member(ts, m);
    assert.ok(r.offset > 0 && r.offset < ts.size, `${m} at ${r.offset}`);
  }
  assert.equal(b.typeName(b.member(ts, 'comm').typeId), 'char[16]');
  assert.equal(b.typeName(b.member(ts, 'real_parent').typeId), 'struct task_struct *');
  assert.equal(b.sizeOf(b.get('struct list_head').id), 16);
  assert.equal(b.offsetOf('struct list_head', 'prev'), 8);
  // Every type decodes, and the kinds newer kernels added are present.
  const kinds = new Set<string>();
  for (let id = 1; id < b.count; id++) kinds.add(b.type(id).kind);
  for (const k of ['struct', 'union', 'enum', 'func', 'func_proto', 'datasec', 'var', 'decl_tag']) assert.ok(kinds.has(k), k);
});
