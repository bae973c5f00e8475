// Node edge: native page decoders for the dump readers. The pure core decodes zlib pages with
// fflate (it runs in browsers); under Node, zlib.inflateSync is about twice as fast per 4 KiB page.
// Call useNodeCodecs() once at startup of a Node command.
import zlib from 'node:zlib';
import { overridePageDecoder } from '../format/codecs/index.ts';

let installed = false;

export function useNodeCodecs(): void {
  if (installed) return;
  installed = true;
  // maxOutputLength bounds a damaged page's output; exceeding it throws (the reader reports it).
  overridePageDecoder('zlib', (d, pageSize) => zlib.inflateSync(d, { maxOutputLength: pageSize + 1 }));
}
