// One zlib stream kept for a whole run and driven a page at a time through the handle Node itself
// uses (`_handle.writeSync` with Z_FINISH into the caller's buffer, then `reset`), as makedumpfile
// keeps one stream and resets it: zlib.deflateSync/inflateSync set up a new stream (256 KiB / 32 KiB
// of state) per call. `_handle` and `_writeState` are Node internals: undefined when this Node lacks
// that shape, and callers then use the *Sync functions.
import type zlib from 'node:zlib';
import { constants } from 'node:zlib';

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

/**
 * `input` through the stream into `out`: the bytes written, or -1 when input was left over (the
 * output did not fit, or the stream ended before the input did).
 */
export type PageStream = (input: Uint8Array, out: Uint8Array) => number;

/** The stream of `engine` as a PageStream; `onError` (when given) hears zlib's errors instead of the stream. */
export function zlibPageStream(engine: zlib.Deflate | zlib.Inflate, onError?: () => void): PageStream | undefined {
  const { _handle: handle, _writeState: state } = engine as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array)) return undefined;
  if (onError) handle.onerror = onError;
  return (input, out) => {
    try {
      handle.writeSync(constants.Z_FINISH, input, 0, input.length, out, 0, out.length);
      return state[1] !== 0 ? -1 : out.length - state[0]!;
    } finally {
      handle.reset();
    }
  };
}
