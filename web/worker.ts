// The viewer's worker: opens the dump (a File from disk, or the URL `vmcore-ts serve` exposes) and
// answers the page's requests with DumpAnalysis. Every read is synchronous and local to the worker;
// nothing is uploaded anywhere.
import { BlobSource, BlockCacheSource, HttpRangeSource } from './sources.ts';
import { DumpAnalysis } from './analysis.ts';

export type OpenRequest = { file: File } | { url: string; name: string; size: number };
export interface Request {
  id: number;
  method: 'open' | 'log' | 'backtraces' | 'tasks' | 'taskBacktrace' | 'memory' | 'hex';
  args?: unknown;
}

let analysis: DumpAnalysis | undefined;

function handle(req: Request): unknown {
  if (req.method === 'open') {
    const a = req.args as OpenRequest;
    const src = 'file' in a ? new BlobSource(a.file, a.file.name) : new HttpRangeSource(a.url, a.name, a.size);
    analysis = new DumpAnalysis(new BlockCacheSource(src));
    return analysis.overview();
  }
  if (!analysis) throw new Error('no dump opened');
  switch (req.method) {
    case 'log':
      return analysis.log();
    case 'backtraces':
      return analysis.backtraces();
    case 'tasks':
      return analysis.tasks();
    case 'taskBacktrace':
      return analysis.taskBacktrace(req.args as string);
    case 'memory':
      return analysis.memory();
    case 'hex': {
      const { where, length } = req.args as { where: string; length: number };
      return analysis.hex(where, length);
    }
  }
  throw new Error(`unknown request ${String(req.method)}`);
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<Request>) => void) | null; postMessage(m: unknown): void };
scope.onmessage = (e) => {
  const req = e.data;
  try {
    scope.postMessage({ id: req.id, result: handle(req) });
  } catch (err) {
    scope.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
};
