// Worker thread of the save pipeline: receives a batch of pages, finds the zero pages (when the dump
// level excludes them) and compresses the others, page by page. The batch buffer goes back with the
// result so the main thread can reuse it: memory stays at a fixed number of batches.
import { parentPort, workerData } from 'node:worker_threads';
import type { CodecName } from '../format/codecs/index.ts';
import { pageCompressor } from './page-compress.ts';
import { compressBatch, type BatchRequest, type BatchResult } from '../dump/batch.ts';

const { codec, zstdChecked } = workerData as { codec: CodecName; zstdChecked?: boolean };
const ready = pageCompressor(codec, { zstdChecked });

parentPort!.on('message', async (req: BatchRequest) => {
  const res: BatchResult = compressBatch(req, await ready);
  parentPort!.postMessage(res, [res.out, res.input]);
});
