import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeText, formatLog, readKernelLog, recordJson } from '../../src/analyze/printk.ts';
import { VmcoreInfo } from '../../src/analyze/vmcoreinfo.ts';
import { ParseError } from '../../src/errors.ts';
import { SparseMemory } from './synthetic-kernel.ts';

const enc = (s: string) => new TextEncoder().encode(s);

// ---------------------------------------------------------------- lockless ring buffer (5.10+)

// VMCOREINFO keys as Linux 6.1 prints them (kernel/printk/printk.c log_buf_vmcoreinfo_setup).
const LOCKLESS_KEYS = `SIZE(printk_ringbuffer)=88
OFFSET(printk_ringbuffer.desc_ring)=0
OFFSET(printk_ringbuffer.text_data_ring)=48
OFFSET(printk_ringbuffer.fail)=80
SIZE(prb_desc_ring)=48
OFFSET(prb_desc_ring.count_bits)=0
OFFSET(prb_desc_ring.descs)=8
OFFSET(prb_desc_ring.infos)=16
OFFSET(prb_desc_ring.head_id)=24
OFFSET(prb_desc_ring.tail_id)=32
SIZE(prb_desc)=24
OFFSET(prb_desc.state_var)=0
OFFSET(prb_desc.text_blk_lpos)=8
SIZE(prb_data_blk_lpos)=16
OFFSET(prb_data_blk_lpos.begin)=0
OFFSET(prb_data_blk_lpos.next)=8
SIZE(printk_info)=88
OFFSET(printk_info.seq)=0
OFFSET(printk_info.ts_nsec)=8
OFFSET(printk_info.text_len)=16
OFFSET(printk_info.caller_id)=20
OFFSET(printk_info.dev_info)=24
SIZE(dev_printk_info)=64
OFFSET(dev_printk_info.subsystem)=0
LENGTH(printk_info_subsystem)=16
OFFSET(dev_printk_info.device)=16
LENGTH(printk_info_device)=48
SIZE(prb_data_ring)=32
OFFSET(prb_data_ring.size_bits)=0
OFFSET(prb_data_ring.data)=8
OFFSET(prb_data_ring.head_lpos)=16
OFFSET(prb_data_ring.tail_lpos)=24
SIZE(atomic_long_t)=8
OFFSET(atomic_long_t.counter)=0
`;

const PRB_PTR = 0xffffffff82000000n;
const PRB = 0xffffffff82000100n;
const DESCS = 0xffffffff82001000n;
const INFOS = 0xffffffff82002000n;
const DATA = 0xffffffff82003000n;

interface Rec {
  text: string;
  ts: bigint;
  level?: number;
  facility?: number;
  caller?: number;
  subsystem?: string;
  device?: string;
  state?: bigint;
}

/** Writes records into a ring like the kernel's data_alloc(): a block that does not fit before the
 *  end of the data ring goes to its start (its begin lpos stays in the previous wrap). Before 6.18 a
 *  block that would end exactly at the ring's end also went to the start; with `exactFit` (6.18 and
 *  stable backports) it stays. */
function buildLockless(recs: Rec[], countBits: number, sizeBits: number, firstId = 0n, exactFit = false) {
  const count = 1 << countBits;
  const size = 1 << sizeBits;
  const descs = new Uint8Array(24 * count);
  const infos = new Uint8Array(88 * count);
  const data = new Uint8Array(size);
  const dd = new DataView(descs.buffer);
  const di = new DataView(infos.buffer);
  const ddata = new DataView(data.buffer);
  let lpos = 0n;
  let wrapped = 0;
  let id = firstId;
  recs.forEach((r, seq) => {
    id = firstId + BigInt(seq);
    const text = enc(r.text);
    const blk = BigInt(8 + ((text.length + 7) & ~7));
    let begin = lpos;
    let next = lpos + blk;
    let at = Number(lpos % BigInt(size));
    if (exactFit ? at + Number(blk) > size : at + Number(blk) >= size) {
      next = lpos - BigInt(at) + BigInt(size) + blk;
      at = 0;
      wrapped++;
    }
    ddata.setBigUint64(at, id, true);
    data.set(text, at + 8);
    const idx = Number(id % BigInt(count));
    dd.setBigUint64(idx * 24, ((r.state ?? 2n) << 62n) | id, true);
    dd.setBigUint64(idx * 24 + 8, begin, true);
    dd.setBigUint64(idx * 24 + 16, next, true);
    const i = idx * 88;
    infos.fill(0, i, i + 88);
    di.setBigUint64(i, BigInt(seq), true);
    di.setBigUint64(i + 8, r.ts, true);
    di.setUint16(i + 16, text.length, true);
    infos[i + 18] = r.facility ?? 0;
    infos[i + 19] = ((r.level ?? 6) << 5) | 0;
    di.setUint32(i + 20, r.caller ?? 1, true);
    infos.set(enc(r.subsystem ?? ''), i + 24);
    infos.set(enc(r.device ?? ''), i + 24 + 16);
    lpos = next;
  });
  const mem = new SparseMemory();
  mem.u64(PRB_PTR, PRB);
  const prb = new Uint8Array(88);
  const p = new DataView(prb.buffer);
  p.setUint32(0, countBits, true);
  p.setBigUint64(8, DESCS, true);
  p.setBigUint64(16, INFOS, true);
  p.setBigUint64(24, id, true); // head_id
  p.setBigUint64(32, id - BigInt(Math.min(count, recs.length) - 1), true); // tail_id
  p.setUint32(48, sizeBits, true);
  p.setBigUint64(56, DATA, true);
  mem.add(PRB, prb);
  mem.add(DESCS, descs);
  mem.add(INFOS, infos);
  mem.add(DATA, data);
  const info = new VmcoreInfo(`OSRELEASE=6.1.0\nSYMBOL(prb)=${PRB_PTR.toString(16)}\n` + LOCKLESS_KEYS);
  return { mem, info, wrapped };
}

test('printk lockless: recycled descriptors, wrapped data blocks, multi-line text, levels and dev_info', () => {
  const recs: Rec[] = [
    { text: 'overwritten one...............', ts: 1n },
    { text: 'overwritten two...............', ts: 2n },
    { text: 'overwritten three.....', ts: 3n },
    { text: 'overwritten four......', ts: 4n },
    { text: 'Linux version 6.1', ts: 0n },
    { text: 'line one\nline two', ts: 1_500_000_123n, level: 4, caller: 0x80000001 },
    { text: 'e1000 0000:00:03.0: eth0: up', ts: 12_000_000n, level: 6, subsystem: 'pci', device: '+pci:0000:00:03.0' },
    { text: 'esc\x1b[31mred\x07 tab\tend', ts: 99_999_999_999n, level: 0, facility: 1, caller: 42 },
  ];
  const { mem, info, wrapped } = buildLockless(recs, 2, 8, 1000n);
  assert.ok(wrapped >= 1, 'the test must exercise a wrapped data block');
  const log = readKernelLog(mem, info);
  assert.equal(log.format, 'lockless ring buffer');
  assert.deepEqual(log.completeness, { partial: false, missing: [], excluded: [], dumpLevel: undefined });
  assert.equal(log.records.length, 4);
  assert.equal(
    formatLog(log),
    '[    0.000000] Linux version 6.1\n' +
      '[    1.500000] line one\n' +
      '               line two\n' +
      '[    0.012000] e1000 0000:00:03.0: eth0: up\n' +
      '[   99.999999] esc\\x1b[31mred\\x07 tab\tend\n',
  );
  assert.equal(
    formatLog(log, { raw: true, caller: true, dict: true }),
    '<6>[    0.000000] [    T1] Linux version 6.1\n' +
      '<4>[    1.500000] [    C1] line one\n' +
      '                           line two\n' +
      '<6>[    0.012000] [    T1] e1000 0000:00:03.0: eth0: up\n' +
      '                           SUBSYSTEM=pci\n' +
      '                           DEVICE=+pci:0000:00:03.0\n' +
      '<8>[   99.999999] [   T42] esc\\x1b[31mred\\x07 tab\tend\n',
  );
  const j = recordJson(log.records[2]!);
  assert.deepEqual(j, {
    seq: 6,
    tsNsec: 12000000,
    time: '0.012000',
    level: 6,
    facility: 0,
    caller: 'T1',
    text: 'e1000 0000:00:03.0: eth0: up',
    dict: ['SUBSYSTEM=pci', 'DEVICE=+pci:0000:00:03.0'],
  });
});

test('printk lockless: a block that ends exactly at the ring end (kernels 6.18+) is read in place, not as wrapped', () => {
  const fill = (c: string) => c.repeat(56); // 8-byte id + 56 bytes: four blocks fill the 256-byte ring
  const recs: Rec[] = [
    { text: fill('a'), ts: 1n },
    { text: fill('b'), ts: 2n },
    { text: fill('c'), ts: 3n },
    { text: fill('d'), ts: 4n },
    { text: 'after the exact fit', ts: 5n },
  ];
  const { mem, info, wrapped } = buildLockless(recs, 2, 8, 0n, true);
  assert.equal(wrapped, 0, 'no block wraps: the fourth ends exactly at the end, the fifth starts at 0');
  const lines = formatLog(readKernelLog(mem, info)).split('\n');
  assert.deepEqual(lines, [
    `[    0.000000] ${fill('b')}`,
    `[    0.000000] ${fill('c')}`,
    `[    0.000000] ${fill('d')}`,
    '[    0.000000] after the exact fit',
    '',
  ]);
});

test('printk lockless: reserved (unfinished) and data-less records are skipped', () => {
  const { mem, info } = buildLockless(
    [
      { text: 'first', ts: 1000n },
      { text: 'being written', ts: 2000n, state: 0n },
      { text: 'last', ts: 3000n },
    ],
    3,
    8,
  );
  assert.deepEqual(
    readKernelLog(mem, info).records.map((r) => new TextDecoder().decode(r.text)),
    ['first', 'last'],
  );
});

test('printk lockless: a record whose text page is not in the dump is left out with a warning', () => {
  const recs: Rec[] = [{ text: 'kept', ts: 1n }, { text: 'x'.repeat(9000), ts: 2n }, { text: 'also kept', ts: 3n }];
  const { mem, info } = buildLockless(recs, 3, 14);
  // Hide the data ring's second page (the long record's tail) behind a smaller region.
  const data = mem.readVirt(DATA, 1 << 14);
  const holey = new SparseMemory();
  holey.add(0xffffffff82000000n, mem.readVirt(0xffffffff82000000n, 8));
  for (const [va, len] of [[PRB, 88], [DESCS, 24 * 8], [INFOS, 88 * 8]] as const) holey.add(va, mem.readVirt(va, len));
  holey.add(DATA, data.subarray(0, 4096));
  holey.add(DATA + 8192n, data.subarray(8192));
  const log = readKernelLog(holey, info);
  assert.deepEqual(log.records.map((r) => new TextDecoder().decode(r.text)), ['kept', 'also kept']);
  assert.equal(log.completeness.partial, true);
  assert.deepEqual(log.completeness.missing.map((g) => [g.item, g.count, g.reason]), [['printk record', 1, 'unmapped']]);
  assert.match(log.completeness.missing[0]!.examples[0]!, /^printk record id 1: virtual address 0xffffffff8200\w+: /);
});

test('printk lockless: a VMCOREINFO without a needed key names it', () => {
  const { mem, info } = buildLockless([{ text: 'x', ts: 1n }], 2, 7);
  const broken = new VmcoreInfo(info.raw.replace(/^OFFSET\(prb_desc_ring\.descs\).*$/m, ''));
  assert.throws(
    () => readKernelLog(mem, broken),
    (e: unknown) => e instanceof ParseError && e.message === 'VMCOREINFO has no OFFSET(prb_desc_ring.descs), needed for the kernel log',
  );
  assert.throws(() => readKernelLog(mem, new VmcoreInfo('OSRELEASE=6.1\n')), /VMCOREINFO has no SYMBOL\(prb\) or SYMBOL\(log_buf\)/);
});

// ---------------------------------------------------------------- variable-length log_buf (3.5 – 5.9)

const LOG_BUF_PTR = 0xffffffff81800000n;
const LOG_BUF_LEN = 0xffffffff81800008n;
const FIRST_IDX = 0xffffffff81800010n;
const NEXT_IDX = 0xffffffff81800014n;
const LOG_BUF = 0xffff888001000000n;

/** struct printk_log x86_64 with CONFIG_PRINTK_CALLER: __packed __aligned(4), 20 bytes. */
function buildLogBuf(recs: Rec[], bufLen: number, withCaller: boolean) {
  const hdr = withCaller ? 20 : 16;
  const buf = new Uint8Array(bufLen);
  const dv = new DataView(buf.buffer);
  const starts: number[] = [];
  let pos = 0;
  for (const r of recs) {
    const text = enc(r.text);
    const dict = enc(r.subsystem ? `SUBSYSTEM=${r.subsystem}\0DEVICE=${r.device}` : '');
    const len = (hdr + text.length + dict.length + 3) & ~3;
    if (pos + len + hdr > bufLen) {
      dv.setUint16(pos + 8, 0, true); // wrap marker: len 0
      buf.fill(0, pos, pos + hdr);
      pos = 0;
    }
    starts.push(pos);
    dv.setBigUint64(pos, r.ts, true);
    dv.setUint16(pos + 8, len, true);
    dv.setUint16(pos + 10, text.length, true);
    dv.setUint16(pos + 12, dict.length, true);
    buf[pos + 14] = r.facility ?? 0;
    buf[pos + 15] = (r.level ?? 6) << 5;
    if (withCaller) dv.setUint32(pos + 16, r.caller ?? 1, true);
    buf.set(text, pos + hdr);
    buf.set(dict, pos + hdr + text.length);
    pos += len;
  }
  const mem = new SparseMemory();
  mem.u64(LOG_BUF_PTR, LOG_BUF);
  mem.u32(LOG_BUF_LEN, bufLen);
  mem.u32(NEXT_IDX, pos);
  mem.add(LOG_BUF, buf);
  const keys = [
    'OSRELEASE=5.4.0',
    `SYMBOL(log_buf)=${LOG_BUF_PTR.toString(16)}`,
    `SYMBOL(log_buf_len)=${LOG_BUF_LEN.toString(16)}`,
    `SYMBOL(log_first_idx)=${FIRST_IDX.toString(16)}`,
    'SYMBOL(clear_idx)=ffffffff81800018',
    `SYMBOL(log_next_idx)=${NEXT_IDX.toString(16)}`,
    `SIZE(printk_log)=${hdr}`,
    'OFFSET(printk_log.ts_nsec)=0',
    'OFFSET(printk_log.len)=8',
    'OFFSET(printk_log.text_len)=10',
    ...(withCaller ? ['OFFSET(printk_log.caller_id)=16'] : []),
  ];
  return { mem, info: new VmcoreInfo(keys.join('\n')), starts };
}

test('printk log_buf (3.5-5.9): wrap marker, caller ids like makedumpfile, dict follow-on lines', () => {
  const recs: Rec[] = [
    { text: 'old record that gets overwritten by the wrap', ts: 1n },
    { text: 'second record', ts: 2_000_000_000n },
    { text: 'third\nrecord', ts: 3_000_000_000n, caller: 0x80000003, level: 3 },
    { text: 'virtio_net virtio0 eth0: up', ts: 4_000_000_000n, subsystem: 'virtio', device: '+virtio:virtio0', caller: 77 },
    { text: 'after the wrap', ts: 5_000_000_000n },
  ];
  const { mem, info, starts } = buildLogBuf(recs, 256, true);
  assert.equal(starts[4], 0, 'the last record must have wrapped to the start');
  mem.u32(FIRST_IDX, starts[1]!);
  const log = readKernelLog(mem, info);
  assert.equal(log.format, 'variable-length log_buf');
  assert.equal(
    formatLog(log),
    '[    2.000000] [    T1] second record\n' +
      '[    3.000000] [    C3] third\n' +
      '                        record\n' +
      '[    4.000000] [   T77] virtio_net virtio0 eth0: up\n' +
      '[    5.000000] [    T1] after the wrap\n',
  );
  assert.deepEqual(log.records[2]!.dict, ['SUBSYSTEM=virtio', 'DEVICE=+virtio:virtio0']);
  assert.equal(log.records[1]!.level, 3);
});

test('printk log_buf without CONFIG_PRINTK_CALLER: no caller column', () => {
  const { mem, info, starts } = buildLogBuf([{ text: 'a', ts: 1_000n }, { text: 'b', ts: 2_000n }], 4096, false);
  mem.u32(FIRST_IDX, starts[0]!);
  assert.equal(formatLog(readKernelLog(mem, info)), '[    0.000001] a\n[    0.000002] b\n');
});

test('printk log_buf: a cycle in damaged records stops with a warning, the records before it kept', () => {
  const { mem, info, starts } = buildLogBuf([{ text: 'a', ts: 1n }, { text: 'b', ts: 2n }], 4096, false);
  mem.u32(FIRST_IDX, starts[0]!);
  mem.u32(NEXT_IDX, 4000); // never reached: the walk runs into the zeroed rest and loops at 0
  const log = readKernelLog(mem, info);
  assert.ok(log.records.length >= 2);
  assert.equal(log.completeness.partial, true);
  assert.match(log.completeness.missing.map((g) => g.examples[0]).join('\n'), /cycle|outside|empty/);
});

test('printk plain log_buf (< 3.5): wrapped character ring', () => {
  const mem = new SparseMemory();
  mem.u64(LOG_BUF_PTR, LOG_BUF);
  mem.u32(LOG_BUF_LEN, 16);
  mem.u32(NEXT_IDX, 16 + 4); // log_end
  // The ring holds the newest text's end at its start: unrolled from log_end & (len-1) = 4.
  mem.add(LOG_BUF, enc('klm\n' + 'abc\ndefg\nhij'));
  const info = new VmcoreInfo(
    `SYMBOL(log_buf)=${LOG_BUF_PTR.toString(16)}\nSYMBOL(log_buf_len)=${LOG_BUF_LEN.toString(16)}\nSYMBOL(log_end)=${NEXT_IDX.toString(16)}\n`,
  );
  const log = readKernelLog(mem, info);
  assert.equal(log.format, 'plain log_buf');
  assert.equal(formatLog(log), 'abc\ndefg\nhijklm\n');
});

test('escapeText: printable ASCII and tab as is, control bytes and bytes >= 0x80 as \\xNN', () => {
  assert.equal(escapeText(new Uint8Array([0x41, 0x09, 0x0d, 0x1b, 0x7f, 0xc3, 0xa9, 0x0a, 0x42]), '  '), 'A\t\\x0d\\x1b\\x7f\\xc3\\xa9\n  B');
});
