// vmcore-ts save: makedumpfile's job — filter a dump by dump level, compress it, write it as
// kdump-compressed (default), ELF (-E) or flattened to stdout (-F). Options follow makedumpfile's.
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isDumpDataError, ParseError, UsageError } from '../../errors.ts';
import type { CodecName } from '../../format/codecs/index.ts';
import type { Dump } from '../../format/dump.ts';
import { FlattenedWriter } from '../../format/flattened.ts';
import { openDump } from '../../format/open-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { FdSink, prepareStreamOutput, writeAllSync } from '../../host/file-sink.ts';
import { nodePageDecoders } from '../../host/node-codecs.ts';
import { checkOutput, OutputFile, writeOutputFile } from '../../host/output-file.ts';
import { EXIT_PARTIAL } from '../run.ts';
import { hostCompression, prestartWorkers } from '../../host/worker-pool.ts';
import { liblzoCompressor, libzstdCompressor } from '../../host/native-codecs.ts';
import { pageCompressor, pageCompressorName } from '../../host/page-compress.ts';
import { kernelPagesOnly, MAX_DUMP_LEVEL } from '../../analyze/page-class.ts';
import { readBack, recordedLevel, type SaveReport } from '../../dump/output.ts';
import { checkSavable, saveDump, type SaveSink } from '../../dump/save.ts';
import { DEFAULT_WINDOW, type SaveProgress } from '../../dump/scan.ts';
import type { Command } from './commands.ts';
import { ChunkedWriter, MANIFEST_SUFFIX, type ChunkStore } from '../../dump/chunked.ts';
import { parseCommandLine, usageError } from '../args.ts';

export const SAVE_USAGE =
  'vmcore-ts save [-c|-l|-p|-z] [-d LEVEL] [-E] [-f] [--num-threads N] [--cyclic-buffer K] [--message-level N] VMCORE DUMPFILE\n' +
  '       vmcore-ts save -F [-c|-l|-p|-z] [-d LEVEL] [-E] VMCORE > FLATTENED\n' +
  '       vmcore-ts save --to DIR|ssh://[USER@]HOST[:PORT]/DIR|s3://BUCKET/PREFIX [--name NAME] [-c|-l|-p|-z] [-d LEVEL] VMCORE\n' +
  '       vmcore-ts save --to https://COLLECTOR/v1/crashes/ID/dump --token-file FILE [--ca FILE] ... VMCORE\n' +
  '       vmcore-ts save --dump-dmesg VMCORE LOGFILE\n' +
  '  -c, -l, -p, -z     compress each page with zlib, LZO, snappy or zstd (kdump-compressed output)\n' +
  '  -d LEVEL           dump level 0-31, sum of: 1 zero pages, 2 cache, 4 cache+private, 8 user data,\n' +
  '                     16 free pages; a list "1,31" retries with the next level when the disk fills\n' +
  '  -E                 write an ELF core (like /proc/vmcore) instead of kdump-compressed\n' +
  '  -F                 write the flattened format to stdout (for pipes and ssh; rebuild with convert -R)\n' +
  '  -f                 overwrite DUMPFILE if it exists\n' +
  '  --num-threads N    compression threads (default: the number of CPUs; none on one CPU)\n' +
  '  --cyclic-buffer K  KiB of each page bitmap held at a time (default 4096: 128 GiB of pages per\n' +
  '                     window); memory stays bounded whatever the dump size\n' +
  '  --message-level N  1 progress, 2 summary, 4 warnings, 16 page statistics (default 7)\n' +
  '  --dump-dmesg       write the kernel log to LOGFILE (as makedumpfile --dump-dmesg)\n' +
  '  --to TARGET        write the flattened stream as chunk files NAME.part-NNNNN and, last,\n' +
  '                     NAME.manifest.json (sizes and SHA-256s) to a directory or over ssh (key only);\n' +
  '                     a run after a cut sends only the chunks not stored yet; check with verify\n' +
  '  --name NAME        the chunk files\' name (default vmcore)\n' +
  '  --chunk-mib N      chunk size (default 16)\n' +
  '  --ssh-key FILE     private key for ssh; --known-hosts FILE: the server\'s key\n' +
  '  --token-file FILE  the host\'s bearer token for a collector target (vmcore-ts triage gives the URL);\n' +
  '                     --ca FILE: the collector\'s CA certificate (PEM)\n' +
  '  --encrypt-to PUB   seal each chunk to this X25519 public key (PEM): the target needs no secret;\n' +
  '                     --state-dir DIR keeps the key of an unfinished save to resume (default /run/vmcore-ts)\n' +
  '  --with-log         first store the kernel log as NAME.dmesg.txt (kilobytes, before the bulk)\n' +
  '  s3://BUCKET/PREFIX one object PREFIX/NAME.flat sent as a multipart upload (a part per chunk,\n' +
  '                     5 MiB or more on AWS), resumed from its stored parts; then NAME.manifest.json\n' +
  '  --s3-credentials FILE  AWS shared-credentials file ([default] aws_access_key_id = …,\n' +
  '                     aws_secret_access_key = …, region = …), readable by its owner only\n' +
  '  --s3-endpoint URL  any S3 server (MinIO, Ceph RGW, …): http(s)://HOST[:PORT], path-style;\n' +
  '                     --s3-region REGION (default: the file\'s region, else us-east-1)';

export interface SaveArgs {
  codec: CodecName | undefined;
  levels: number[];
  elf: boolean;
  flattened: boolean;
  /** --to: chunked target (directory or ssh:// URL); the stream is flattened. */
  to?: { target: string; name: string; chunkBytes: number; sshKey?: string; knownHosts?: string; encryptTo?: string; stateDir: string; withLog: boolean; tokenFile?: string; ca?: string; s3?: { credentials: string; endpoint?: string; region?: string } };
  force: boolean;
  threads: number;
  messageLevel: number;
  /** Page frames per bitmap window (--cyclic-buffer KiB * 8192). */
  windowPfns: number;
  input: string;
  output: string | undefined;
}

const saveOptions = {
  c: { type: 'boolean' },
  l: { type: 'boolean' },
  p: { type: 'boolean' },
  z: { type: 'boolean' },
  d: { type: 'string' },
  E: { type: 'boolean' },
  F: { type: 'boolean' },
  f: { type: 'boolean' },
  R: { type: 'boolean' },
  'num-threads': { type: 'string' },
  'cyclic-buffer': { type: 'string' },
  'message-level': { type: 'string' },
  'dump-dmesg': { type: 'boolean' },
  uncompressed: { type: 'boolean' },
  to: { type: 'string' },
  name: { type: 'string' },
  'chunk-mib': { type: 'string' },
  'ssh-key': { type: 'string' },
  'known-hosts': { type: 'string' },
  'encrypt-to': { type: 'string' },
  'state-dir': { type: 'string' },
  'with-log': { type: 'boolean' },
  'token-file': { type: 'string' },
  ca: { type: 'string' },
  's3-credentials': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
} as const;

/** save's and convert's options (src/cli/args.ts); undefined: help or version was printed. */
export function parseSaveArgs(argv: string[], usage: string) {
  const parsed = parseCommandLine(argv, saveOptions, { prog: usage.split(' ').slice(0, 2).join(' '), usage: `usage: ${usage}`, positionals: [0, Infinity] });
  return parsed as { values: { [K in keyof typeof saveOptions]?: (typeof saveOptions)[K]['type'] extends 'string' ? string : boolean }; positionals: string[] } | undefined;
}

function intOption(v: string | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${name} ${v}: give a number ${min}-${max}`);
  return Number(v);
}

export function saveArgs(values: NonNullable<ReturnType<typeof parseSaveArgs>>['values'], positionals: string[], usage: string): SaveArgs {
  const codecs = (['c', 'l', 'p', 'z'] as const).filter((k) => values[k]);
  if (codecs.length > 1) throw usageError(`choose one of -c, -l, -p, -z`, usage);
  const codec = ({ c: 'zlib', l: 'lzo', p: 'snappy', z: 'zstd' } as const)[codecs[0] ?? 'none' as never] as CodecName | undefined;
  if (values.E && codec) throw new UsageError('-E writes an uncompressed ELF core: drop -c/-l/-p/-z');
  const levels = (values.d ?? '0').split(',').map((s) => intOption(s, '-d', 0, MAX_DUMP_LEVEL, 0));
  const to = values.to;
  const withTo = ['name', 'chunk-mib', 'ssh-key', 'known-hosts', 'encrypt-to', 'state-dir', 'with-log', 'token-file', 'ca'] as const;
  if (to === undefined && withTo.some((k) => values[k] !== undefined)) {
    throw usageError(`${withTo.map((k) => '--' + k).join(', ')} go with --to`, usage);
  }
  if (to !== undefined && values.F) throw usageError('--to writes the flattened stream itself: drop -F', usage);
  const collector = to !== undefined && /^https?:\/\//.test(to);
  if (collector && values['token-file'] === undefined) throw usageError('--to a collector needs --token-file (the host\'s token)', usage);
  if (!collector && (values['token-file'] !== undefined || values.ca !== undefined)) throw usageError('--token-file and --ca go with --to https://COLLECTOR/...', usage);
  const s3Given = values['s3-credentials'] !== undefined || values['s3-endpoint'] !== undefined || values['s3-region'] !== undefined;
  const isS3 = to?.startsWith('s3://') ?? false;
  if (s3Given && !isS3) throw usageError('--s3-credentials, --s3-endpoint and --s3-region go with --to s3://BUCKET/PREFIX', usage);
  if (isS3 && values['s3-credentials'] === undefined) throw usageError('--to s3://… needs --s3-credentials FILE (aws_access_key_id and aws_secret_access_key, mode 0600)', usage);
  const flattened = !!values.F || to !== undefined;
  const want = flattened ? 1 : 2;
  if (positionals.length !== want) {
    throw usageError(`${positionals.length < want ? 'missing arguments' : 'too many arguments'}`, usage);
  }
  return {
    codec,
    levels,
    elf: !!values.E,
    flattened,
    force: !!values.f,
    threads: threadsFor(values, codec, inputBytes(positionals[0]!)),
    messageLevel: intOption(values['message-level'], '--message-level', 0, 31, 7),
    windowPfns: intOption(values['cyclic-buffer'], '--cyclic-buffer', 1, 1 << 20, DEFAULT_WINDOW / 8192) * 8192,
    input: positionals[0]!,
    output: flattened ? undefined : positionals[1],
    to:
      to === undefined
        ? undefined
        : {
            target: to,
            name: values.name ?? 'vmcore',
            chunkBytes: intOption(values['chunk-mib'], '--chunk-mib', 1, 1024, 16) * 2 ** 20,
            sshKey: values['ssh-key'],
            knownHosts: values['known-hosts'],
            encryptTo: values['encrypt-to'],
            stateDir: values['state-dir'] ?? '/run/vmcore-ts',
            withLog: !!values['with-log'],
            tokenFile: values['token-file'],
            ca: values.ca,
            s3: isS3 ? { credentials: values['s3-credentials']!, endpoint: values['s3-endpoint'], region: values['s3-region'] } : undefined,
          },
  };
}

/** --num-threads, or the default for `codec` and an input of `inputBytes` (undefined: unknown, small). */
export function threadsFor(values: NonNullable<ReturnType<typeof parseSaveArgs>>['values'], codec: CodecName | undefined, inputBytes?: number): number {
  if (values['num-threads'] !== undefined) return intOption(values['num-threads'], '--num-threads', 0, 256, 0);
  return defaultThreads(codec, inputBytes, availableParallelism(), fastNative(codec));
}

/** Whether `codec` compresses through a native library fast enough to stay in-thread on small inputs (liblzo2, libzstd). */
function fastNative(codec: CodecName | undefined): boolean {
  if (codec === 'lzo') return !!liblzoCompressor();
  if (codec === 'zstd') return !!libzstdCompressor(1);
  return false;
}

/** From this input size on, liblzo2's and libzstd's pages go to workers too (a 16 GiB machine's /proc/vmcore). */
export const LZO_WORKERS_FROM = 2 ** 34;

/** The input's size in bytes (/proc/vmcore: the dump's), or undefined (missing: the open reports it). */
function inputBytes(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/**
 * One compression worker per CPU; none on a single CPU (a capture kernel booted with nr_cpus=1),
 * where a worker cannot run beside the main thread and would only add copies and memory. None for
 * LZO through liblzo2 on a small input either: it compresses a page (~3 us) in about what handing it
 * to a worker costs, and the workers' start (~40 ms of CPU each) is most of a small save
 * (BENCHMARKS.md: -l -d 31 of a 1 GiB guest is faster in-thread); the same for libzstd (-z: 0.46
 * against 0.76 s of CPU on a 1 GiB guest). From LZO_WORKERS_FROM on, compression is most of a save's
 * CPU (64 GiB: 6 of 10 s at -l, 15 of 20 s at -z) and one worker per CPU: with one fewer, that
 * worker was the bottleneck while the main thread waited (64 GiB on 2 CPUs: -l 7.3 s against 6.3,
 * -z 19-21 s against 13; BENCHMARKS.md).
 */
export function defaultThreads(codec: CodecName | undefined, inputBytes: number | undefined, cpus: number, fastNative: boolean): number {
  if (cpus <= 1) return 0;
  if ((codec === 'lzo' || codec === 'zstd') && fastNative && (inputBytes === undefined || inputBytes < LZO_WORKERS_FROM)) return 0;
  return cpus;
}

const MSG_PROGRESS = 1;
const MSG_COMMON = 2;
const MSG_WARN = 4;
const MSG_REPORT = 16;

/** Where progress goes: stderr, or a stand-in in tests. */
export interface ProgressOut {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/**
 * A progress bar on a terminal, redrawn in place (\r, at most 5 times a second) and never wider
 * than the terminal (so it never wraps); else one line per 10 %.
 */
export class ProgressReporter {
  private readonly tty: boolean;
  private readonly enabled: boolean;
  private readonly out: ProgressOut;
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private scanned = false;
  constructor(enabled: boolean, out: ProgressOut = process.stderr) {
    this.enabled = enabled;
    this.out = out;
    this.tty = !!out.isTTY;
  }
  /** One character less than the terminal: a line that fills the last column wraps on some terminals. */
  private get width(): number {
    return Math.max(20, (this.out.columns || 80) - 1);
  }
  update(p: SaveProgress): void {
    if (!this.enabled) return;
    if (p.phase === 'scan') {
      if (this.tty && Date.now() - this.lastDraw > 200) {
        this.lastDraw = Date.now();
        this.out.write(`\r${`scanning page frames ${pct(p.pfn, p.maxPfn)}`.slice(0, this.width)}\x1b[K`);
      }
      return;
    }
    if (!this.scanned) {
      this.scanned = true;
      if (this.tty) this.out.write('\r\x1b[K');
    }
    const frac = p.pagesTotal ? p.pagesWritten / p.pagesTotal : 1;
    const secs = (Date.now() - this.start) / 1000;
    if (this.tty) {
      if (Date.now() - this.lastDraw < 200 && frac < 1) return;
      this.lastDraw = Date.now();
      this.out.write(`\r${progressLine(p, secs, this.width)}\x1b[K`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile > this.lastDecile) {
        this.lastDecile = decile;
        this.out.write(`${String(decile * 10).padStart(3)}% ${progressFacts(p, secs).join(', ')}\n`);
      }
    }
  }
  done(): void {
    if (this.enabled && this.tty) this.out.write('\n');
  }
}

/** The facts of a progress report, most important first. */
function progressFacts(p: SaveProgress, secs: number): string[] {
  const frac = p.pagesTotal ? p.pagesWritten / p.pagesTotal : 1;
  const rate = secs > 0 ? p.bytesWritten / secs : 0;
  const eta = frac > 0.01 ? secs * (1 / frac - 1) : NaN;
  return [`${mib(p.bytesWritten)} written`, `${mib(rate)}/s`, `ETA ${time(eta)}`, `${p.pagesWritten}/${p.pagesTotal} pages`, `pfn ${p.pfn}/${p.maxPfn}`];
}

/**
 * The progress bar line, at most `width` characters: "[####    ]  42.0% 31.2 MiB written, …";
 * the bar shrinks (30 to 10 characters), then the least important facts go.
 */
export function progressLine(p: SaveProgress, secs: number, width: number): string {
  const frac = p.pagesTotal ? p.pagesWritten / p.pagesTotal : 1;
  const facts = progressFacts(p, secs);
  for (let n = facts.length; n >= 0; n--) {
    const tail = ` ${pct(p.pagesWritten, p.pagesTotal)}${n ? ' ' + facts.slice(0, n).join(', ') : ''}`;
    const bar = Math.min(30, width - tail.length - 2);
    if (bar >= 10 || n === 0) {
      const b = Math.max(0, bar);
      const full = Math.round(frac * b);
      return `[${'#'.repeat(full)}${' '.repeat(b - full)}]${tail}`.slice(0, width);
    }
  }
  return '';
}

function pct(a: number, b: number): string {
  return `${(b ? (100 * a) / b : 100).toFixed(1).padStart(5)}%`;
}
function mib(n: number): string {
  return n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
function time(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const r = Math.round(s);
  return `${Math.floor(r / 60)}:${String(r % 60).padStart(2, '0')}`;
}

/** Saves `dump` per `args` (src/dump/save.ts saveDump), prints what happened; returns the exit code. */
export async function saveAndReport(dump: Dump, args: SaveArgs): Promise<number> {
  const opened: ChunkStore[] = [];
  try {
    return await saveTo(dump, args, opened);
  } finally {
    for (const s of opened) s.close?.();
  }
}

/** saveAndReport's work; a --to target's store is put in `opened` (closed by the caller, done or not). */
async function saveTo(dump: Dump, args: SaveArgs, opened: ChunkStore[]): Promise<number> {
  const say = (level: number, s: string) => {
    if (args.messageLevel & level) process.stderr.write(s + '\n');
  };
  const warn = (s: string) => say(MSG_WARN, `vmcore-ts: warning: ${s}`);
  checkSavable(dump); // before the output file is created

  let file: OutputFile | undefined;
  let sink: SaveSink;
  let chunked: ChunkedWriter | undefined;
  let keyDone: (() => void) | undefined;
  if (args.to) {
    // Loaded only here: a save to a local file or a pipe does not load the targets' code (ssh,
    // HTTP and TLS, encryption) at start-up.
    const [
      { DirChunkStore, sha256Hasher, SshChunkStore },
      { parseSshUrl },
      { HttpChunkStore },
      { readCa, readTokenFile },
      { readSecretFile },
      { dumpKeyFor, loadRecipient, sealerFor },
    ] = await Promise.all([
      import('../../host/chunk-stores.ts'),
      import('../../ssh-url.ts'),
      import('../../host/http-chunk-store.ts'),
      import('../../host/http-client.ts'),
      import('../../host/secret-file.ts'),
      import('../../host/dump-crypto.ts'),
    ]);
    const { target, name, chunkBytes, sshKey, knownHosts, encryptTo, stateDir, tokenFile, ca, s3 } = args.to;
    const recipient = encryptTo !== undefined ? loadRecipient(encryptTo) : undefined;
    let store: ChunkStore;
    if (s3) {
      // Loaded only here: the S3 code (and, in its worker thread, the AWS SDK) is no other command's cost.
      const { parseS3Url, readS3Credentials, S3MultipartStore } = await import('../../host/s3-store.ts');
      const t = parseS3Url(target);
      store = new S3MultipartStore(t, name, { endpoint: s3.endpoint, region: s3.region, credentials: readS3Credentials(s3.credentials) });
    } else {
      store = target.startsWith('ssh://')
        ? new SshChunkStore(parseSshUrl(target), { key: sshKey, knownHosts })
        : /^https?:\/\//.test(target)
          ? new HttpChunkStore(target, { token: readTokenFile(tokenFile!, readSecretFile), ca: readCa(ca) })
          : new DirChunkStore(target);
    }
    opened.push(store);
    let seal: ConstructorParameters<typeof ChunkedWriter>[4];
    if (recipient) {
      const k = dumpKeyFor(recipient, store.where, name, stateDir);
      seal = { sealer: sealerFor(k.key, name), manifest: k.key.manifest };
      keyDone = k.done;
    }
    if (args.to.withLog) await storeLog(dump, store, `${name}.dmesg.txt`, warn);
    const writer = new ChunkedWriter(store, name, chunkBytes, sha256Hasher, seal);
    chunked = writer;
    sink = new FlattenedWriter((bytes) => writer.write(bytes));
  } else if (args.flattened) {
    prepareStreamOutput(1);
    sink = new FlattenedWriter((chunk) => writeAllSync(1, chunk));
  } else {
    file = OutputFile.create(args.output!, { force: args.force, inputs: [args.input] });
    sink = new FdSink(file.fd);
  }
  const t0 = Date.now();
  let saved: Awaited<ReturnType<typeof saveDump>>;
  try {
    saved = await saveDump(
      dump,
      { levels: args.levels, elf: args.elf, codec: args.codec, threads: args.threads, compression: hostCompression, windowPfns: args.windowPfns },
      sink,
      {
        warn,
        progress: () => new ProgressReporter((args.messageLevel & MSG_PROGRESS) !== 0),
        retry: (stop, level, next) => say(MSG_COMMON, `vmcore-ts: ${stop.message} at dump level ${level}; retrying with dump level ${next}`),
      },
    );
  } catch (e) {
    // Failed before the output held anything worth keeping (the input could not be scanned).
    file?.discard();
    throw e;
  }
  const { report: r, level } = saved;
  const secs = (Date.now() - t0) / 1000;
  if (args.messageLevel & MSG_REPORT) say(MSG_REPORT, statsTable(r));
  if (r.incomplete) return reportIncomplete(r, dump, file, args.elf);
  file?.commit();
  let where = args.output ?? 'stdout (flattened)';
  if (chunked && args.to) {
    const c = chunked.end(new Date());
    keyDone?.();
    const as = c.manifest.object ? `${c.manifest.object} (${c.manifest.chunks.length} part${c.manifest.chunks.length === 1 ? '' : 's'})` : `${c.manifest.chunks.length} chunks`;
    where = `${args.to.target} as ${as} + ${args.to.name}${MANIFEST_SUFFIX}${c.kept ? ` (resumed: ${c.kept} chunks already there, ${c.sent} sent)` : ''}`;
  }
  say(
    MSG_COMMON,
    `saved ${r.scan.pagesKept} of ${r.scan.pagesPresent} pages (dump level ${levelText(dump, level, args.elf)}${args.codec ? `, ${args.codec} through ${pageCompressorName(args.codec, { kernelPagesOnly: kernelPagesOnly(level) })}` : ''}${args.elf ? ', ELF' : ''}) to ${where}: ${mib(r.bytesWritten)} in ${secs.toFixed(1)} s`,
  );
  if (dump.notesError) {
    // Every page is out, but not every note: say what the output lacks (exit 3, partial).
    process.stderr.write(
      `vmcore-ts: ${where} lacks part of the input's ELF notes: ${dump.notesError.message}; the ${dump.notes.length} notes before it${dump.vmcoreinfo !== undefined ? ' and VMCOREINFO' : ''} are carried over\n`,
    );
    return EXIT_PARTIAL;
  }
  return 0;
}

/** The level the output records: the input's | the one asked for (ELF output records none). */
function levelText(dump: Dump, level: number, elf: boolean): string {
  const rec = recordedLevel(dump, level);
  return elf || rec === level ? String(level) : `${rec}: ${level} asked, the input's ${dump.dumpLevel}`;
}

function pfnRange(first: number, last: number, ps: number): string {
  return `pfn 0x${first.toString(16)}-0x${last.toString(16)}, physical 0x${(first * ps).toString(16)}-0x${((last + 1) * ps - 1).toString(16)}`;
}

/** src/dump/output.ts readBack on the file at `path` (a save's or convert's temporary output). */
export function readBackFile(path: string, expected: number): ReturnType<typeof readBack> {
  const src = new FileSource(path);
  try {
    return readBack(src, expected, nodePageDecoders);
  } finally {
    src.close();
  }
}

/**
 * Says what an incomplete save lost, exactly, and returns exit 1. A file output is read back: the
 * pages it should hold that do not read are counted, and it is put at its name (its header says
 * INCOMPLETE) only if it opens with pages in it; otherwise it is removed and an earlier DUMPFILE
 * stays as it was.
 */
function reportIncomplete(r: SaveReport, dump: Dump, file: OutputFile | undefined, elf: boolean): number {
  const ps = dump.pageSize;
  const lost: string[] = [];
  const { missing, unusable } = file ? readBackFile(file.tempPath, r.scan.pagesKept) : {};
  if (r.stop) {
    // Pages the reader lost are counted apart; the rest of what does not read was never written.
    // kdump-compressed output still selects the lost pages in its bitmap (so they are among the
    // missing); ELF output leaves them out of every PT_LOAD, so its missing pages are all unwritten.
    const unwritten = missing ? missing.count - (elf ? 0 : r.lostPages) : r.unwrittenPages;
    const range = missing && missing.count > 0 ? ` (${pfnRange(missing.first, missing.last, ps)})` : '';
    lost.push(`writing stopped: ${r.stop.message}; ${unwritten} of ${r.scan.pagesKept} pages not written${missing ? '' : ' (counted as handed to the writer: the last write buffer may hold more; convert -R counts exactly)'}${range}`);
  }
  if (r.lostPages) lost.push(`${r.lostPages} pages could not be read (${r.lostExamples.join('; ')})`);
  if (r.inputIncomplete) lost.push(`the input is incomplete itself (${dump.warnings.join('; ') || 'marked so by its writer'})`);
  if (file && unusable) {
    file.discard();
    process.stderr.write(`vmcore-ts: nothing usable was written to ${file.path}: ${unusable}; ${lost.join('; ')}; ${file.path} was not ${existsSync(file.path) ? 'replaced' : 'created'}\n`);
    return 1;
  }
  file?.commit();
  const where = file ? file.path : 'stdout (flattened)';
  const opens = missing ? `it opens, ${missing.total - missing.count} of ${missing.total} pages readable` : 'the stream ends with its header marked so';
  process.stderr.write(`vmcore-ts: ${where} is INCOMPLETE (marked so in its header; ${opens}): ${lost.join('; ')}\n`);
  return 1;
}

function statsTable(r: SaveReport): string {
  const x = r.scan.excluded;
  const excluded = x.free + x.cache + x.cachePrivate + x.user + x.hwpoison + x.offline + r.zeroPages;
  const rows: [string, number][] = [
    ['Original pages', r.scan.pagesPresent],
    ['  Excluded pages', excluded],
    ['    Pages filled with zero', r.zeroPages],
    ['    Non-private cache pages', x.cache],
    ['    Private cache pages', x.cachePrivate],
    ['    User process data pages', x.user],
    ['    Free pages', x.free],
    ['    Hwpoison pages', x.hwpoison],
    ['    Offline pages', x.offline],
    ['  Remaining pages', r.scan.pagesPresent - excluded],
    ['Memory hole', r.scan.maxPfn - r.scan.pagesPresent],
    ['Total pages', r.scan.maxPfn],
    ['Write bytes', r.bytesWritten],
  ];
  return rows.map(([k, v]) => `${k.padEnd(28)}: 0x${v.toString(16).padStart(16, '0')}`).join('\n');
}

/** The kernel log (as --dump-dmesg writes it) stored whole before the dump's chunks; a dump without a readable log only warns. */
async function storeLog(dump: Dump, store: ChunkStore, file: string, warn: (s: string) => void): Promise<void> {
  const [{ formatLog }, { KernelDump }] = await Promise.all([import('../../analyze/printk.ts'), import('../../analyze/kernel-dump.ts')]);
  let text: string;
  try {
    const log = new KernelDump(dump).log;
    if (log.records.length === 0 && !log.plainText) return warn(`no kernel log record could be read: ${file} not stored`);
    text = formatLog(log);
  } catch (e) {
    if (!isDumpDataError(e)) throw e;
    return warn(`the kernel log could not be read (${(e as Error).message}): ${file} not stored`);
  }
  store.put(file, new TextEncoder().encode(text));
}

/**
 * makedumpfile --dump-dmesg VMCORE LOGFILE: LOGFILE is written like a dump (fresh, 0600, renamed
 * into place); no readable record writes nothing (exit 1), a log with parts missing exits 3.
 */
async function dumpDmesg(input: string, logFile: string, force: boolean): Promise<number> {
  // The kernel-log code is loaded only here: a save does not need it (shorter start-up).
  const [{ formatLog }, { describeCompleteness }, { KernelDump }] = await Promise.all([
    import('../../analyze/printk.ts'),
    import('../../analyze/completeness.ts'),
    import('../../analyze/kernel-dump.ts'),
  ]);
  checkOutput(logFile, { force, inputs: [input] });
  const dump = openDump(new FileSource(input), { decoders: nodePageDecoders });
  const log = new KernelDump(dump).log;
  const c = log.completeness;
  for (const line of describeCompleteness(c)) process.stderr.write(`vmcore-ts: ${line}\n`);
  if (log.records.length === 0 && !log.plainText) {
    throw new ParseError(`no kernel log record could be read${c.missing.length ? ` (${c.missing[0]!.examples[0]})` : ''}: ${logFile} not written`, { source: input });
  }
  writeOutputFile(logFile, formatLog(log), { force, inputs: [input] });
  return c.partial ? EXIT_PARTIAL : 0;
}

export const saveCommand: Command = {
  summary: 'filter, compress and write a dump (makedumpfile): kdump-compressed, ELF, flattened',
  async run(argv) {
    const parsed = parseSaveArgs(argv, SAVE_USAGE);
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (values.R) throw new UsageError('-R (rebuild a flattened dump) is a convert option: vmcore-ts convert -R OUT < FLATTENED');
    if (values['dump-dmesg']) {
      if (positionals.length !== 2) throw usageError(`--dump-dmesg needs VMCORE LOGFILE`, SAVE_USAGE);
      return dumpDmesg(positionals[0]!, positionals[1]!, !!values.f);
    }
    const args = saveArgs(values, positionals, SAVE_USAGE);
    // Compression workers boot while the dump is opened and scanned. For zstd this thread first
    // compares libzstd with the WebAssembly build once, so the workers need not load the latter.
    if (args.codec && args.threads > 0 && !args.elf) {
      if (args.codec === 'zstd') await pageCompressor('zstd');
      prestartWorkers(args.threads, args.codec, { kernelPagesOnly: kernelPagesOnly(args.levels[0]!) });
    }
    return saveAndReport(openDump(new FileSource(args.input), { decoders: nodePageDecoders }), args);
  },
};
