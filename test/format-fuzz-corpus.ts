// Small dumps in every format, made by our writers from the fixture, for fuzzing.
import { FileSource } from '../src/host/file-source.ts';
import { BufferSource, type ByteSource } from '../src/io/source.ts';
import { openDump } from '../src/format/open-dump.ts';
import { purePageCompressor } from '../src/format/codecs/compress.ts';
import { loadZstdPageCompressor } from '../src/format/codecs/zstd-compress.ts';
import { FlattenedWriter } from '../src/format/flattened.ts';
import { BufferSink } from '../src/format/sink.ts';
import { FIXTURE, every, presentPfns, writeElf, writeKdump } from './format-helpers.ts';
import type { Dump } from '../src/format/dump.ts';

export async function fuzzCorpus(): Promise<ByteSource[]> {
  const full = openDump(new FileSource(FIXTURE));
  const pfns = every(presentPfns(full), 150);
  const out: ByteSource[] = [];
  const compressors = {
    lzo: purePageCompressor('lzo'),
    snappy: purePageCompressor('snappy'),
    zstd: await loadZstdPageCompressor(),
  };
  for (const [codec, compress] of Object.entries(compressors)) {
    const sink = new BufferSink();
    writeKdump(full, sink, pfns, { codec: codec as 'lzo', compress, headerVersion: codec === 'snappy' ? 3 : 6 });
    out.push(new BufferSource(sink.bytes().slice(), `<kdump ${codec}>`));
  }
  const chunks: Uint8Array[] = [];
  const flat = new FlattenedWriter((c) => chunks.push(c.slice()));
  writeKdump(full, flat, pfns, { codec: 'zlib', compress: purePageCompressor('zlib') });
  flat.end();
  out.push(new BufferSource(concat(chunks), '<flattened kdump zlib>'));
  // A small ELF core: only the sampled pages, one PT_LOAD each.
  const sparse = Object.assign(Object.create(full) as Dump, {
    presentRuns: () => pfns.map((p) => ({ startPfn: p, endPfn: p + 1n })),
  });
  const elf = new BufferSink();
  writeElf(sparse, elf).finish();
  out.push(new BufferSource(elf.bytes().slice(), '<ELF core>'));
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
