// Node edge: native page decoders for the dump readers. The pure core decodes zlib pages with
// fflate (it runs in browsers); under Node, zlib.inflateSync is about twice as fast per 4 KiB page.
// Node commands open dumps with these (openDump(src, { decoders: nodePageDecoders })).
import zlib from 'node:zlib';
import { pageDecoders, withPageDecoder } from '../format/codecs/index.ts';

// maxOutputLength bounds a damaged page's output; exceeding it throws (the reader reports it).
export const nodePageDecoders = withPageDecoder(pageDecoders, 'zlib', (d, pageSize) => zlib.inflateSync(d, { maxOutputLength: pageSize + 1 }));
