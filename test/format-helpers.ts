// Shared helpers for the dump-format tests: the fixture, reference tools, and copying a dump into
// our writers.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import type { CodecName } from '../src/format/codecs/index.ts';
import type { PageCompressor } from '../src/format/codecs/compress.ts';
import type { KernelDump } from '../src/analyze/kernel-dump.ts';
import type { Dump } from '../src/format/dump.ts';
import { encodeNotes } from '../src/format/elf.ts';
import { ElfCoreWriter } from '../src/format/elf-core-writer.ts';
import { KdumpCompressedWriter, type Utsname } from '../src/format/kdump-compressed-writer.ts';
import { newBitmap, setBit } from '../src/format/bitmap.ts';
import type { ByteSink } from '../src/format/sink.ts';
import { ReadError } from '../src/errors.ts';
import { FileSource } from '../src/host/file-source.ts';
import type { ByteSource } from '../src/io/source.ts';

export const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
export const ORACLE_DMESG = 'fixtures/x86_64-debian-6.1/oracle/makedumpfile-dump-dmesg.txt';

export function hasTool(cmd: string, arg = '--version'): boolean {
  const r = spawnSync(cmd, [arg], { stdio: 'ignore' });
  return r.error === undefined;
}

export const hasMakedumpfile = hasTool('makedumpfile', '-v');

export function run(cmd: string, args: string[], input?: Uint8Array): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr?.toString() ?? '' };
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-ts-format-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** zlib level 1 through node:zlib (native, fast) — the same stream format fflate writes. */
export const nodeZlibCompressor: PageCompressor = (page, out) => {
  const c = deflateSync(page, { level: 1 });
  if (c.length >= page.length || c.length > out.length) return page.length;
  out.set(c);
  return c.length;
};

/** Every present pfn of a dump, or the first `limit` of them. */
export function presentPfns(d: Dump, limit = Infinity): bigint[] {
  const out: bigint[] = [];
  for (const r of d.presentRuns()) {
    for (let p = r.startPfn; p < r.endPfn; p++) {
      if (out.length >= limit) return out;
      out.push(p);
    }
  }
  return out;
}

export function utsnameOf(d: Dump): Utsname {
  const h = d.header;
  const s = (k: string) => String(h[k] ?? '');
  return { sysname: s('sysname'), nodename: s('nodename'), release: s('release'), version: s('version'), machine: s('machine'), domainname: s('domainname') };
}

/** Copies the given pages of `d` into a kdump-compressed file through our writer. */
export function writeKdump(
  d: Dump,
  sink: ByteSink,
  pfns: bigint[],
  opts: {
    codec?: CodecName;
    compress?: PageCompressor;
    headerVersion?: number;
    stopAfter?: number;
    singleBitmap?: boolean;
    bigEndian?: boolean;
    /** The RAM bitmap (default: the pages copied), so that a RAM page left out reads as excluded. */
    ramBitmap?: Uint8Array;
  } = {},
) {
  const bitmap = newBitmap(Number(d.maxPfn));
  for (const p of pfns) setBit(bitmap, Number(p));
  const w = new KdumpCompressedWriter(sink, {
    pageSize: d.pageSize,
    maxPfn: d.maxPfn,
    dumpBitmap: bitmap,
    utsname: utsnameOf(d),
    timestamp: { sec: BigInt(d.header.timestampSec ?? 0), usec: 0n },
    codec: opts.codec,
    compress: opts.compress,
    notes: encodeNotes(d.notes, !opts.bigEndian),
    physBase: BigInt(d.header.physBase ?? 0),
    dumpLevel: d.dumpLevel,
    nrCpus: Number(d.header.nrCpus ?? 1),
    headerVersion: opts.headerVersion,
    singleBitmap: opts.singleBitmap,
    bigEndian: opts.bigEndian,
    ramBitmap: opts.ramBitmap,
  });
  let n = 0;
  for (const p of pfns) {
    if (opts.stopAfter !== undefined && n++ >= opts.stopAfter) break;
    w.writePage(p, d.readPage!(p));
  }
  return w.finish();
}

/** Copies every present page of `d` into an ELF core (one PT_LOAD per run, direct-map vaddrs). */
export function writeElf(d: Dump, sink: ByteSink, pageOffset = 0xff11000000000000n): ElfCoreWriter {
  const ps = BigInt(d.pageSize);
  const runs = [...d.presentRuns()];
  const w = new ElfCoreWriter(sink, {
    pageSize: d.pageSize,
    notes: encodeNotes(d.notes),
    segments: runs.map((r) => ({ paddr: r.startPfn * ps, vaddr: r.startPfn * ps + pageOffset, memSize: Number((r.endPfn - r.startPfn) * ps) })),
  });
  for (const r of runs) for (let p = r.startPfn; p < r.endPfn; p++) w.writePhys(p * ps, d.readPage!(p));
  return w;
}

/** Asserts two dumps hold the same bytes for the given pfns; returns how many were compared. */
export function samePages(a: Dump, b: Dump, pfns: bigint[]): number {
  for (const p of pfns) {
    const x = a.readPage!(p);
    const y = b.readPage!(p);
    if (Buffer.compare(x, y) !== 0) throw new Error(`page 0x${p.toString(16)} differs between ${a.format} and ${b.format}`);
  }
  return pfns.length;
}

/** Every `step`-th element (deterministic sample). */
export function every<T>(xs: T[], step: number): T[] {
  return xs.filter((_, i) => i % step === 0);
}

/** The file at `path`, except that reads touching [bad, bad + length) fail with EIO as a bad sector
 * does: the ReadError FileSource throws when readSync fails. */
export function eioSource(path: string, bad: number, length: number): ByteSource & { close(): void } {
  const f = new FileSource(path);
  return {
    name: path,
    size: f.size,
    read(offset, n) {
      if (offset < bad + length && offset + n > bad) {
        throw new ReadError(path, Math.max(offset, bad), n, Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5 }));
      }
      return f.read(offset, n);
    },
    close: () => f.close(),
  };
}

/** A System.map of the dump's own kallsyms at link-time addresses (KASLR taken off), text moved by `shift` (another build). */
export function systemMapFromKallsyms(kd: KernelDump, shift = 0n): string {
  const off = kd.info.kernelOffset ?? 0n;
  return kd.symbols
    .all()
    .map((s) => {
      const image = s.address >= 0xffffffff80000000n;
      const a = image ? s.address - off + (/[tT]/.test(s.type) ? shift : 0n) : s.address;
      return `${a.toString(16).padStart(16, '0')} ${s.type} ${s.name}`;
    })
    .join('\n');
}
