// vmcore-ts convert: a dump into another format (kdump-compressed <-> ELF, another codec), filtered
// again with -d; or -R: rebuild the plain file from a flattened stream (makedumpfile -R), streamed.
import { closeSync, openSync, readSync } from 'node:fs';
import { ParseError, UsageError } from '../../errors.ts';
import { FLAT_HEADER_SIZE, FLAT_SIGNATURE, FlatDataHeader, FlatHeader, TYPE_FLAT_HEADER } from '../../format/flattened.ts';
import { openDump } from '../../format/open-dump.ts';
import { readStruct } from '../../format/struct.ts';
import { FileSource } from '../../io/node-file.ts';
import { closeDumpFile, createDumpFile, FdSink } from '../../dump/file-sink.ts';
import type { Command } from './commands.ts';
import { parseSaveArgs, saveArgs, saveDump } from './save.ts';

const USAGE =
  'vmcore-ts convert [-c|-l|-p|-z] [-d LEVEL] [-E] [-f] [--num-threads N] [--message-level N] IN OUT\n' +
  '       vmcore-ts convert -F [-c|-l|-p|-z] [-d LEVEL] [-E] IN > FLATTENED\n' +
  '       vmcore-ts convert -R [-f] OUT [FLATTENED]     (reads stdin without FLATTENED)\n' +
  '  IN is any dump vmcore-ts opens (ELF, kdump-compressed, flattened); OUT is kdump-compressed,\n' +
  '  or ELF with -E; the options are those of vmcore-ts save. -d filters again (pages the input\n' +
  '  lacks stay out). -R rebuilds the file a flattened stream (save -F, makedumpfile -F) describes.';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Reads up to `n` bytes from a sequential fd (a pipe may be non-blocking: EAGAIN waits). */
function readUpTo(fd: number, buf: Uint8Array, n: number): number {
  let done = 0;
  while (done < n) {
    let got: number;
    try {
      got = readSync(fd, buf, done, n - done, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(sleeper, 0, 0, 5);
        continue;
      }
      throw e;
    }
    if (got === 0) break;
    done += got;
  }
  return done;
}

/** Rebuilds the plain file from a flattened stream, record by record, in bounded memory. */
export function rearrangeFlattened(inFd: number, name: string, outPath: string, force: boolean): number {
  const head = new Uint8Array(FLAT_HEADER_SIZE);
  const got = readUpTo(inFd, head, FLAT_HEADER_SIZE);
  const h = got >= FlatHeader.size ? readStruct(FlatHeader, head, 0, false) : undefined;
  if (!h || h.signature !== FLAT_SIGNATURE || h.type !== TYPE_FLAT_HEADER || got < FLAT_HEADER_SIZE) {
    throw new ParseError('not a flattened dump (no "makedumpfile" header of type 1)', { offset: 0, source: name, hint: 'give the output of save -F or makedumpfile -F' });
  }
  const fd = createDumpFile(outPath, force);
  const sink = new FdSink(fd);
  const rec = new Uint8Array(FlatDataHeader.size);
  const buf = new Uint8Array(1 << 20);
  let pos = FLAT_HEADER_SIZE;
  let ended = false;
  try {
    for (;;) {
      if (readUpTo(inFd, rec, rec.length) < rec.length) break;
      const r = readStruct(FlatDataHeader, rec, 0, false);
      if (r.offset === -1n && r.buf_size === -1n) {
        ended = true;
        break;
      }
      if (r.offset < 0n || r.buf_size < 0n || r.buf_size > 1n << 40n) {
        throw new ParseError(`flattened record with offset ${r.offset} and size ${r.buf_size} is damaged`, { offset: pos, source: name });
      }
      pos += rec.length;
      let off = Number(r.offset);
      for (let left = Number(r.buf_size); left > 0; ) {
        const n = readUpTo(inFd, buf, Math.min(left, buf.length));
        if (n === 0) break;
        sink.write(off, buf.subarray(0, n));
        off += n;
        left -= n;
        pos += n;
      }
    }
  } finally {
    closeDumpFile(fd);
  }
  if (!ended) {
    process.stderr.write(`vmcore-ts: ${name} ends at byte ${pos} without the end marker: ${outPath} holds what arrived and may be incomplete\n`);
    return 1;
  }
  return 0;
}

export const convertCommand: Command = {
  summary: 'convert a dump: kdump-compressed <-> ELF, another codec, filter again with -d; -R rebuilds a flattened dump',
  async run(argv) {
    const parsed = parseSaveArgs(argv, USAGE);
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (values['dump-dmesg']) throw new UsageError('--dump-dmesg is a save option: vmcore-ts save --dump-dmesg VMCORE LOGFILE');
    if (values.R) {
      if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`-R needs OUT [FLATTENED]\nusage: ${USAGE}`);
      const input = positionals[1];
      if (input === undefined || input === '-') return rearrangeFlattened(0, '<stdin>', positionals[0]!, !!values.f);
      const fd = openSync(input, 'r');
      try {
        return rearrangeFlattened(fd, input, positionals[0]!, !!values.f);
      } finally {
        closeSync(fd);
      }
    }
    const args = saveArgs(values, positionals, USAGE);
    return saveDump(openDump(new FileSource(args.input)), args);
  },
};
