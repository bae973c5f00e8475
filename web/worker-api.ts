// What the viewer's worker answers: one table of methods, and the message types derived from it (as
// pdf.js' message_handler.js does), so the page's calls are checked against the methods' own
// signatures: a wrong method name, argument or result type fails the typecheck.
import { BlobSource, BlockCacheSource, HttpRangeSource } from './sources.ts';
import { DumpAnalysis } from './analysis.ts';

export type OpenRequest = { file: File } | { url: string; name: string; size: number };

let analysis: DumpAnalysis | undefined;

function opened(): DumpAnalysis {
  if (!analysis) throw new Error('no dump opened');
  return analysis;
}

export const workerApi = {
  /** Opens the dump (a File from disk, or the URL `vmcore-ts serve` exposes) and returns its overview. */
  open(req: OpenRequest) {
    const src = 'file' in req ? new BlobSource(req.file, req.file.name) : new HttpRangeSource(req.url, req.name, req.size);
    analysis = new DumpAnalysis(new BlockCacheSource(src));
    return analysis.overview();
  },
  log: () => opened().log(),
  backtraces: () => opened().backtraces(),
  tasks: () => opened().tasks(),
  taskBacktrace: (task: string) => opened().taskBacktrace(task),
  memory: () => opened().memory(),
  hex: (where: string, length: number) => opened().hex(where, length),
  console: (line: string) => opened().console(line),
  complete: (line: string) => opened().complete(line),
};

export type WorkerApi = typeof workerApi;
export type Method = keyof WorkerApi;
export type Args<M extends Method> = Parameters<WorkerApi[M]>;
export type Result<M extends Method> = Awaited<ReturnType<WorkerApi[M]>>;

/** The page's call: a method of the table, its arguments, a promise of its result. */
export type Call = <M extends Method>(method: M, ...args: Args<M>) => Promise<Result<M>>;

/** The page's message: a method of the table and its arguments. */
export interface Request<M extends Method = Method> {
  id: number;
  method: M;
  args: Args<M>;
}

/** The worker's answer to request `id`: the method's result (a `Result<method>`), or the one-line error it threw. */
export interface Response {
  id: number;
  result?: unknown;
  error?: string;
}

/** Runs one request against the table; an unknown method is an error (the page's typecheck prevents it). */
export function handle(req: Request): unknown {
  if (!Object.hasOwn(workerApi, req.method)) throw new Error(`unknown request ${String(req.method)}`);
  const method = workerApi[req.method] as (...args: unknown[]) => unknown;
  return method(...(req.args ?? []));
}
