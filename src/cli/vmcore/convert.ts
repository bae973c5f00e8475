// vmcore-ts convert: a dump into another format (kdump-compressed <-> ELF, another codec), filtered
// again with -d; or -R: rebuild the plain file from a flattened stream (makedumpfile -R), streamed.
import { closeSync, openSync, readSync } from 'node:fs';
import { ParseError, UsageError } from '../../errors.ts';
import { FLAT_HEADER_SIZE, FLAT_SIGNATURE, FlatDataHeader, FlatHeader, TYPE_FLAT_HEADER } from '../../format/flattened.ts';
import { openDump } from '../../format/open-dump.ts';
import { readStruct } from '../../format/struct.ts';
import { FileSource } from '../../host/file-source.ts';
import { FdSink } from '../../host/file-sink.ts';
import { nodePageDecoders } from '../../host/node-codecs.ts';
import { OutputFile } from '../../host/output-file.ts';
import type { Command } from './commands.ts';
import { usageError } from '../args.ts';
import { parseSaveArgs, readBackFile, saveAndReport, saveArgs, threadsFor } from './save.ts';
import type { CodecName } from '../../format/codecs/index.ts';

const USAGE =
  'vmcore-ts convert [-c|-l|-p|-z|--uncompressed] [-d LEVEL] [-E] [-f] [--num-threads N] [--message-level N] IN OUT\n' +
  '       vmcore-ts convert -F [-c|-l|-p|-z] [-d LEVEL] [-E] IN > FLATTENED\n' +
  '       vmcore-ts convert -R [-f] OUT [FLATTENED]     (reads stdin without FLATTENED)\n' +
  '  IN is any dump vmcore-ts opens (ELF, kdump-compressed, flattened); OUT is kdump-compressed,\n' +
  '  or ELF with -E; the options are those of vmcore-ts save. The input\'s page compression is kept\n' +
  '  unless -c/-l/-p/-z or --uncompressed says otherwise. -d filters again (pages the input lacks\n' +
  '  stay out; the level recorded is the input\'s | LEVEL). OUT is never IN, and an existing OUT is\n' +
  '  replaced only with -f. -R rebuilds the file a flattened stream (save -F, makedumpfile -F) describes.';

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
  const file = OutputFile.create(outPath, { force, inputs: [inFd] });
  try {
    return rearrangeInto(inFd, name, file);
  } catch (e) {
    file.discard();
    throw e;
  }
}

function rearrangeInto(inFd: number, name: string, file: OutputFile): number {
  const head = new Uint8Array(FLAT_HEADER_SIZE);
  const got = readUpTo(inFd, head, FLAT_HEADER_SIZE);
  const h = got >= FlatHeader.size ? readStruct(FlatHeader, head, 0, false) : undefined;
  if (!h || h.signature !== FLAT_SIGNATURE || h.type !== TYPE_FLAT_HEADER || got < FLAT_HEADER_SIZE) {
    throw new ParseError('not a flattened dump (no "makedumpfile" header of type 1)', { offset: 0, source: name, hint: 'give the output of save -F or makedumpfile -F' });
  }
  const sink = new FdSink(file.fd);
  const rec = new Uint8Array(FlatDataHeader.size);
  const buf = new Uint8Array(1 << 20);
  let pos = FLAT_HEADER_SIZE;
  let ended = false;
  let stop: string | undefined;
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
  } catch (e) {
    // The disk filled (or another write error): what was written is checked like a save's.
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof ParseError || typeof code !== 'string' || (e as NodeJS.ErrnoException).syscall !== 'write') throw e;
    stop = (e as Error).message;
  }
  const why = stop ? `writing stopped: ${stop}` : !ended ? `${name} ends at byte ${pos} without the end marker` : undefined;
  // A complete stream of a dump whose header says incomplete is reported too.
  const { missing, unusable, incomplete } = readBackFile(file.tempPath, 1);
  if (unusable) {
    file.discard();
    throw new ParseError(`nothing usable was rebuilt: ${unusable}${why ? `; ${why}` : ''}; ${file.path} not written`, { source: name });
  }
  file.commit();
  if (!why && !incomplete && missing!.count === 0) return 0;
  const range = missing!.count ? ` (pfn 0x${missing!.first.toString(16)}-0x${missing!.last.toString(16)})` : '';
  process.stderr.write(
    `vmcore-ts: ${file.path} is INCOMPLETE${incomplete ? ' (marked so in its header)' : ''}: ${why ? `${why}; ` : ''}${missing!.count} of ${missing!.total} pages do not read${range}\n`,
  );
  return 1;
}

export const convertCommand: Command = {
  summary: 'convert a dump: kdump-compressed <-> ELF, another codec, filter again with -d; -R rebuilds a flattened dump',
  async run(argv) {
    const parsed = parseSaveArgs(argv, USAGE);
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (values['dump-dmesg']) throw new UsageError('--dump-dmesg is a save option: vmcore-ts save --dump-dmesg VMCORE LOGFILE');
    if (values.R) {
      if (positionals.length < 1 || positionals.length > 2) throw usageError(`-R needs OUT [FLATTENED]`, USAGE);
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
    const dump = openDump(new FileSource(args.input), { decoders: nodePageDecoders });
    // The input's codec unless another (or none, or ELF) is asked for, as makedumpfile -R keeps it.
    const kept = dump.compression.find((c): c is CodecName => c === 'zlib' || c === 'lzo' || c === 'snappy' || c === 'zstd');
    if (!args.codec && !args.elf && !values.uncompressed && kept) {
      args.codec = kept;
      args.threads = threadsFor(values, kept);
      if (args.messageLevel & 2) process.stderr.write(`vmcore-ts: keeping the input's ${kept} compression (-c/-l/-p/-z for another, --uncompressed for none)\n`);
    }
    return saveAndReport(dump, args);
  },
};
