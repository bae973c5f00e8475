// Worker thread of the save pipeline: receives a batch of pages, reads those the batch names from the
// input (when the pool gave it the input's file: `{ readFd }`), finds their zero pages (when the
// dump level excludes them) and compresses the others, page by page. The batch buffer goes back with
// the result so the main thread can reuse it: memory stays at a fixed number of batches.
import { parentPort, workerData } from 'node:worker_threads';
import type { CodecName } from '../format/codecs/index.ts';
import { pageCompressor } from './page-compress.ts';
import { compressBatch, type BatchRequest, type BatchResult, type InputReader } from '../dump/batch.ts';
import { preadFully } from './file-source.ts';

const { codec, zstdChecked, kernelPagesOnly } = workerData as { codec: CodecName; zstdChecked?: boolean; kernelPagesOnly?: boolean };
const ready = pageCompressor(codec, { zstdChecked, kernelPagesOnly });
let read: InputReader | undefined;

parentPort!.on('message', async (msg: BatchRequest | { readFd: number }) => {
  if ('readFd' in msg) {
    const fd = msg.readFd;
    read = (offset, dst, dstOffset, length) => preadFully(fd, '', offset, dst, dstOffset, length);
    return;
  }
  const res: BatchResult = compressBatch(msg, await ready, read);
  parentPort!.postMessage(res, [res.out, res.input]);
});
