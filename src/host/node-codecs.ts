// Node edge: native page decoders for the dump readers. The pure core decodes zlib pages with
// fflate (it runs in browsers); under Node, zlib.inflateSync is about twice as fast per 4 KiB page,
// and one inflate stream kept and reset per page (as the saver's compressor does) twice again.
// Node commands open dumps with these (openDump(src, { decoders: nodePageDecoders })).
import zlib from 'node:zlib';
import { pageDecoders, withPageDecoder, type PageDecoder } from '../format/codecs/index.ts';
import { zlibPageStream } from './zlib-page-stream.ts';

// maxOutputLength bounds a damaged page's output; exceeding it throws (the reader reports it).
const inflateSync: PageDecoder['decompress'] = (d, pageSize) => zlib.inflateSync(d, { maxOutputLength: pageSize + 1 });

// zlib.inflateSync sets up a new stream (inflateInit, a 32 KiB window) per call. The fast path keeps
// one (zlib-page-stream.ts) and returns only a clean result: the stream ended, all input used, the
// output within a page. Anything else (an error, input left over, a full buffer) is decoded again by
// inflateSync, which then gives the same page or the same error as without the fast path. A Node
// without that handle shape gets inflateSync alone.
let fast: PageDecoder['decompress'] | null | undefined;

function fastInflate(): PageDecoder['decompress'] | null {
  let failed = false;
  const stream = zlibPageStream(zlib.createInflate(), () => (failed = true));
  if (!stream) return null;
  const decode: PageDecoder['decompress'] = (d, pageSize) => {
    const out = Buffer.allocUnsafe(pageSize + 1);
    failed = false;
    let n = -1;
    try {
      n = stream(d, out);
    } catch {
      failed = true;
    }
    if (failed || n < 0 || n === out.length) return inflateSync(d, pageSize);
    return out.subarray(0, n);
  };
  // Check once that it inflates what zlib deflates; else inflateSync alone.
  try {
    const page = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const back = decode(zlib.deflateSync(page), 4096);
    if (Buffer.compare(back, page) === 0) return decode;
  } catch {
    // fall through
  }
  return null;
}

/** Inflates a zlib page: the kept stream when this Node has it (made on first use), else inflateSync. */
function inflatePage(d: Uint8Array, pageSize: number): Uint8Array {
  if (fast === undefined) fast = fastInflate();
  return (fast ?? inflateSync)(d, pageSize);
}

export const nodePageDecoders = withPageDecoder(pageDecoders, 'zlib', inflatePage);
