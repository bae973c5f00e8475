// zstd page compression (level 1, one frame per page, as makedumpfile's ZSTD_compressCCtx writes)
// through @hpcc-js/wasm-zstd: zstd 1.5.x compiled to WebAssembly and inlined in its JS, so it runs in
// Node 20 (which has no zlib zstd) and bundles into a single file. Loading is async, once.
import { Zstd } from '@hpcc-js/wasm-zstd';
import { fromWhole, type PageCompressor } from './compress.ts';

let loaded: Promise<Zstd> | undefined;

export async function loadZstdPageCompressor(level = 1): Promise<PageCompressor> {
  loaded ??= Zstd.load();
  const zstd = await loaded;
  return fromWhole((page) => zstd.compress(page, level));
}
