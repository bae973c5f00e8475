// Synchronous ByteSources for a browser worker: a File/Blob read with FileReaderSync, or the dump
// served by `vmcore-ts serve` read with synchronous range requests (allowed in workers). Both sit
// behind a block cache, since the readers ask for many small pieces.
import type { ByteSource } from '../src/io/source.ts';

export class BlobSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly blob: Blob;
  private readonly reader = new FileReaderSync();
  constructor(blob: Blob, name: string) {
    this.blob = blob;
    this.name = name;
    this.size = blob.size;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    return new Uint8Array(this.reader.readAsArrayBuffer(this.blob.slice(offset, Math.min(this.size, offset + length))));
  }
}

export class HttpRangeSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly url: string;
  constructor(url: string, name: string, size: number) {
    this.url = url;
    this.name = name;
    this.size = size;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const want = Math.min(this.size, offset + length) - offset;
    const first = this.get(offset, want);
    if (first.length >= want) return first.subarray(0, want);
    // The server caps what one response carries: ask again for the rest.
    const out = new Uint8Array(want);
    out.set(first);
    for (let done = first.length; done < want; ) {
      const b = this.get(offset + done, want - done);
      if (b.length === 0) throw new Error(`reading ${this.name} at ${offset + done}: the server sent no bytes`);
      out.set(b.subarray(0, want - done), done);
      done += b.length;
    }
    return out;
  }
  private get(offset: number, length: number): Uint8Array {
    const x = new XMLHttpRequest();
    x.open('GET', this.url, false);
    x.responseType = 'arraybuffer';
    x.setRequestHeader('Range', `bytes=${offset}-${offset + length - 1}`);
    x.send();
    const b = new Uint8Array(x.response as ArrayBuffer);
    if (x.status === 200) return b.subarray(offset, offset + length);
    if (x.status !== 206) {
      const why = new TextDecoder().decode(b.subarray(0, 300)).split('\n')[0];
      throw new Error(`reading ${this.name} at ${offset}: HTTP ${x.status}${why ? ` (${why})` : ''}`);
    }
    return b;
  }
}

export { BlockCacheSource } from '../src/io/block-cache.ts';
