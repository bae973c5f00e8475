// A ChunkStore in memory for the chunked-dump tests: files by name, and the order they were put in.
import type { ChunkStore } from '../../src/dump/chunked.ts';
import { sha256Hasher } from '../../src/host/chunk-stores.ts';

export class MemoryStore implements ChunkStore {
  readonly where = 'memory';
  files = new Map<string, Uint8Array>();
  puts: string[] = [];
  stored(prefix: string): Map<string, string> {
    const m = new Map<string, string>();
    for (const [f, b] of this.files) {
      if (!f.startsWith(prefix)) continue;
      const h = sha256Hasher();
      h.update(b);
      m.set(f, h.digest());
    }
    return m;
  }
  put(file: string, bytes: Uint8Array): void {
    this.files.set(file, bytes.slice());
    this.puts.push(file);
  }
}
