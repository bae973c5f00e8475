// Node edge: native page decoders for the dump readers. The pure core decodes zlib pages with
// fflate (it runs in browsers); under Node, zlib.inflateSync is about twice as fast per 4 KiB page,
// and one inflate stream kept and reset per page (as the saver's compressor does) twice again.
// Node commands open dumps with these (openDump(src, { decoders: nodePageDecoders })).
import zlib from 'node:zlib';
import { pageDecoders, withPageDecoder, type PageDecoder } from '../format/codecs/index.ts';

// maxOutputLength bounds a damaged page's output; exceeding it throws (the reader reports it).
const inflateSync: PageDecoder['decompress'] = (d, pageSize) => zlib.inflateSync(d, { maxOutputLength: pageSize + 1 });

// zlib.inflateSync sets up a new stream (inflateInit, a 32 KiB window) per call. The fast path drives
// one stream through the zlib handle Node itself uses (`_handle.writeSync` + `reset`) and returns
// only a clean result: the stream ended, all input used, the output within a page. Anything else
// (an error, input left over, a full buffer) is decoded again by inflateSync, which then gives the
// same page or the same error as without the fast path. A Node without that handle shape gets
// inflateSync alone.
interface InflateHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

let fast: PageDecoder['decompress'] | null | undefined;

function fastInflate(): PageDecoder['decompress'] | null {
  const engine = zlib.createInflate() as unknown as { _handle?: InflateHandle; _writeState?: Uint32Array };
  const handle = engine._handle;
  const state = engine._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array)) return null;
  let failed = false;
  handle.onerror = () => {
    failed = true;
  };
  const decode: PageDecoder['decompress'] = (d, pageSize) => {
    const out = Buffer.allocUnsafe(pageSize + 1);
    failed = false;
    try {
      handle.writeSync(zlib.constants.Z_FINISH, d, 0, d.length, out, 0, out.length);
    } catch {
      failed = true;
    }
    const outLeft = state[0]!;
    const inLeft = state[1]!;
    handle.reset();
    if (failed || inLeft !== 0 || outLeft === 0) return inflateSync(d, pageSize);
    return out.subarray(0, out.length - outLeft);
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
