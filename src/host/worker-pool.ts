// A fixed pool of compression workers (worker_threads), which also read the pages of a file input.
// Batches go to the least busy; each call returns a promise for its result, so the caller can keep
// results in submission order and write in order.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CodecName } from '../format/codecs/index.ts';
import type { ByteSource } from '../io/source.ts';
import { FileSource } from './file-source.ts';
import type { BatchRequest, BatchResult, BatchWorkers, CompressorOptions, PageCompression } from '../dump/batch.ts';
import { pageCompressor, zstdNativeChecked } from './page-compress.ts';

interface Pending {
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
  /** The worker it went to. */
  worker: number;
}

/**
 * Starts one worker: the bundled compress-worker.mjs beside the bundle, or, when running from the
 * sources, the .ts file behind tsx's loader (registered inside the worker before the import).
 */
// A worker holds two batch buffers and a codec's state: small heaps keep the pool's memory flat.
const resourceLimits = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 12, codeRangeSizeMb: 8 };
// stdout/stderr: true keeps the worker's output streams to itself. Otherwise Node creates
// process.stdout (and stderr) in this thread to forward them, which makes a pipe on fd 1
// non-blocking under `save -F | ssh`: its synchronous writes would then meet EAGAIN.
const stdio = { stdout: true, stderr: true };

// The bundle's own kind: the CommonJS save (dist/vmcore-ts-save.cjs) starts compress-worker.cjs, the ESM
// bundle (and a capture initramfs, which carries only .mjs files) compress-worker.mjs.
const WORKER = import.meta.url.endsWith('.cjs') ? './compress-worker.cjs' : './compress-worker.mjs';

function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(WORKER, import.meta.url), { workerData, resourceLimits, ...stdio });
  const tsx = import.meta.resolve('tsx/esm/api');
  const script = new URL('./compress-worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); })`;
  return new Worker(code, { eval: true, workerData, resourceLimits, ...stdio });
}

/** False when the bundled worker script is missing (a hand-copied bundle): compress in-thread then. */
export function workersAvailable(): boolean {
  return import.meta.url.endsWith('.ts') || existsSync(fileURLToPath(new URL(WORKER, import.meta.url)));
}

// Workers started ahead of need (prestartWorkers): a worker takes tens of milliseconds of CPU to
// boot Node in its thread; started before the dump is opened and scanned, that happens on the other
// CPUs meanwhile. Unref'd until a pool claims them, so unclaimed ones never keep the process alive.
const prestarted: { codec: CodecName; kernelPagesOnly: boolean; worker: Worker; exited: boolean }[] = [];

/** Starts `size` workers for `codec` now, for the WorkerPool that the save creates later. */
export function prestartWorkers(size: number, codec: CodecName, opts: CompressorOptions = {}): void {
  if (!workersAvailable()) return;
  const kernelPagesOnly = opts.kernelPagesOnly ?? false;
  for (let i = 0; i < size; i++) {
    const entry = { codec, kernelPagesOnly, worker: startWorker({ codec, kernelPagesOnly, zstdChecked: zstdNativeChecked() }), exited: false };
    entry.worker.unref();
    // One that fails before a pool claims it is replaced then (takeWorker).
    entry.worker.on('error', () => undefined);
    entry.worker.on('exit', () => (entry.exited = true));
    prestarted.push(entry);
  }
}

function takeWorker(codec: CodecName, kernelPagesOnly: boolean): Worker {
  const i = prestarted.findIndex((p) => p.codec === codec && p.kernelPagesOnly === kernelPagesOnly && !p.exited);
  if (i < 0) return startWorker({ codec, kernelPagesOnly, zstdChecked: zstdNativeChecked() });
  const { worker } = prestarted.splice(i, 1)[0]!;
  worker.ref();
  return worker;
}

/**
 * The worker a batch goes to: the one with the fewest batches out (`out`), the first of them counting
 * from `from` (round robin among equals). A worker that was descheduled, or got slower pages, then
 * does not leave the others idle behind it while the save waits for its oldest batch.
 */
export function leastLoaded(out: readonly number[], from: number): number {
  let best = from % out.length;
  for (let k = 1; k < out.length; k++) {
    const i = (from + k) % out.length;
    if (out[i]! < out[best]!) best = i;
  }
  return best;
}

export class WorkerPool implements BatchWorkers {
  private readonly workers: Worker[] = [];
  /** Batches out per worker. */
  private readonly out: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private failure: Error | undefined;

  readonly readsInput: boolean;

  /** `input`: a file the workers read the batches' pages from themselves (they share its descriptor). */
  constructor(size: number, codec: CodecName, input?: ByteSource, opts: CompressorOptions = {}) {
    const readFd = input instanceof FileSource && input.descriptor >= 0 ? input.descriptor : undefined;
    this.readsInput = readFd !== undefined;
    for (let i = 0; i < size; i++) {
      const w = takeWorker(codec, opts.kernelPagesOnly ?? false);
      if (readFd !== undefined) w.postMessage({ readFd });
      w.on('message', (r: BatchResult) => {
        const p = this.pending.get(r.seq);
        this.pending.delete(r.seq);
        if (p) this.out[p.worker]!--;
        p?.resolve(r);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`compression worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.out.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run(req: BatchRequest): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<BatchResult>((resolve, reject) => {
      const best = leastLoaded(this.out, this.next);
      this.next = best + 1;
      this.out[best]!++;
      this.pending.set(req.seq, { resolve, reject, worker: best });
      this.workers[best]!.postMessage(req, [req.input, req.out]);
    });
    // Callers may stop awaiting after a failure; the rejection is theirs to see, not unhandled.
    p.catch(() => undefined);
    return p;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The save's compression on this machine: native libraries first (page-compress.ts), workers when the bundle has them. */
export const hostCompression: PageCompression = {
  compressor: pageCompressor,
  workers: (size, codec, input, opts) => (size > 0 && workersAvailable() ? new WorkerPool(size, codec, input, opts) : undefined),
};
