// The viewer's worker: answers the page's requests with the methods of web/worker-api.ts. Every read
// is synchronous and local to the worker; nothing is uploaded anywhere.
import { handle, type Request, type Response } from './worker-api.ts';

const scope = self as unknown as { onmessage: ((e: MessageEvent<Request>) => void) | null; postMessage(m: Response): void };
scope.onmessage = (e) => {
  const req = e.data;
  try {
    scope.postMessage({ id: req.id, result: handle(req) });
  } catch (err) {
    scope.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
};
