// Node edge: a ByteSink over a file (positioned writes, pwrite), for tests and benches that write
// dumps. Created as every output is (src/io/output-file.ts: fresh, 0600, under a temporary name);
// close() puts it in place, replacing an existing file. Holes never written read as zeros.
import { writeSync } from 'node:fs';
import type { ByteSink } from '../format/sink.ts';
import { OutputFile } from './output-file.ts';

export class FileSink implements ByteSink {
  private file: OutputFile | undefined;
  constructor(path: string) {
    this.file = OutputFile.create(path, { force: true });
  }
  write(offset: number, bytes: Uint8Array): void {
    if (!this.file) throw new Error('the file is closed');
    let done = 0;
    while (done < bytes.length) done += writeSync(this.file.fd, bytes, done, bytes.length - done, offset + done);
  }
  close(): void {
    this.file?.commit();
    this.file = undefined;
  }
}
