// Command-level mutation fuzzing: every read-only vmcore-ts command, run through the real CLI entry
// point (bin/vmcore-ts.mjs) in child processes, on mutated copies of real dumps of every format.
// Each run is classified:
//   ok       exit 0;
//   partial  exit 3 with the "partial result:" line on stderr;
//   error    exit 1 or 2 with exactly one line on stderr;
// anything else fails: a signal, a stack trace or "internal error", an unknown exit code, a hang past
// the time limit, RSS over 1 GiB, or --json output that does not parse. Failures are written to
// test-artifacts/cli-fuzz/ with a reproducer. Used by cli-fuzz.test.ts and scripts/fuzz-cli.ts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelDump } from '../src/analyze/kernel-dump.ts';
import { readKallsyms } from '../src/analyze/kallsyms.ts';
import { KdumpCompressedDump, DiskDumpHeader, KdumpSubHeader, PageDesc } from '../src/format/kdump-compressed.ts';
import { Elf64Ehdr, Elf64Phdr } from '../src/format/elf.ts';
import { FlatDataHeader, FLAT_HEADER_SIZE } from '../src/format/flattened.ts';
import { openDump } from '../src/format/open-dump.ts';
import { BufferSource, type ByteSource } from '../src/io/source.ts';
import { rng } from './format-fuzz-lib.ts';
import { NODE_ARGS } from '../src/node-args.ts';

export const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const CLI = 'bin/vmcore-ts.mjs';
export const TIME_LIMIT_MS = 20_000;
export const RSS_LIMIT = 1 << 30;

/** Each read-only command with the arguments after DUMP. */
export const COMMANDS: Record<string, string[]> = {
  info: [],
  dmesg: [],
  regs: [],
  bt: ['-a'],
  ps: [],
  struct: ['task_struct', 'init_task'],
  mem: [],
  summary: [],
  sym: ['panic', '0xffffffff83ea8a06'],
  read: ['linux_banner', '64'],
};

export type Format = 'kdump' | 'elf' | 'flattened';
export type Outcome = 'ok' | 'partial' | 'error' | 'FAIL';

/** File regions of one input that mutations aim at. */
interface Region {
  at: number;
  len: number;
}
export interface FuzzInput {
  format: Format;
  path: string;
  bytes: Buffer;
  /** Header fields: [offset, size in bytes]. */
  fields: [string, number, number][];
  /** Regions read to open the dump, the kdump bitmaps, its page descriptors, the printk and kallsyms pages. */
  regions: Record<'open' | 'bitmap' | 'descriptors' | 'printk' | 'kallsyms', Region[]>;
}

/** A source that records the reads made through it (to find where a structure lies in the file). */
class RecordingSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  reads: Region[] = [];
  private readonly inner: ByteSource;
  constructor(inner: ByteSource) {
    this.inner = inner;
    this.name = inner.name;
    this.size = inner.size;
  }
  read(offset: number, length: number): Uint8Array {
    this.reads.push({ at: offset, len: length });
    return this.inner.read(offset, length);
  }
}

/** The numeric fields of a struct at `base`: [name, offset, size]. */
const fieldsOf = (prefix: string, s: { fields: Record<string, { off: number; type: string }> }, base: number): [string, number, number][] =>
  Object.entries(s.fields)
    .filter(([, f]) => /^[iu](8|16|32|64)$/.test(f.type))
    .map(([k, f]) => [`${prefix}.${k}`, base + f.off, Number(f.type.slice(1)) / 8]);

/** Reads the input once, unmutated, to find its header fields and where its structures lie. */
export function describeInput(format: Format, path: string): FuzzInput {
  const bytes = readFileSync(path);
  const rec = new RecordingSource(new BufferSource(bytes, path));
  const dump = openDump(rec);
  const open = rec.reads;
  rec.reads = [];
  const kd = new KernelDump(dump);
  void kd.memory;
  rec.reads = [];
  void kd.log.records.length;
  const printk = rec.reads;
  rec.reads = [];
  readKallsyms(kd.memory, kd.info);
  const kallsyms = rec.reads;
  const fields: [string, number, number][] = [];
  const regions: FuzzInput['regions'] = { open, bitmap: [], descriptors: [], printk, kallsyms };
  if (dump instanceof KdumpCompressedDump) {
    const block = dump.pageSize;
    fields.push(...fieldsOf('disk_dump_header', DiskDumpHeader, 0));
    fields.push(...fieldsOf('kdump_sub_header', KdumpSubHeader, block));
    regions.bitmap.push({ at: dump.bitmap1Offset, len: dump.dataOffset - dump.bitmap1Offset });
    regions.descriptors.push({ at: dump.dataOffset, len: Number(dump.pagesPresent()) * PageDesc.size });
  } else if (format === 'elf') {
    fields.push(...fieldsOf('Elf64_Ehdr', Elf64Ehdr, 0));
    const phoff = Number(bytes.readBigUInt64LE(32));
    const phnum = bytes.readUInt16LE(56);
    for (let i = 0; i < Math.min(phnum, 8); i++) fields.push(...fieldsOf(`Elf64_Phdr[${i}]`, Elf64Phdr, phoff + i * Elf64Phdr.size));
  } else {
    for (let i = 0; i < 4; i++) fields.push(...fieldsOf(`makedumpfile_data_header[${i}]`, FlatDataHeader, FLAT_HEADER_SIZE + i * FlatDataHeader.size));
  }
  return { format, path, bytes, fields, regions };
}

/** One mutation, as data (the reproducer). */
export interface Mutation {
  kind: string;
  patches: [offset: number, bytes: number[]][];
  size: number;
}

const pickIn = (r: () => number, n: number) => Math.floor(r() * n);

function regionPoint(r: () => number, regions: Region[], fallback: number): number {
  const g = regions[pickIn(r, regions.length)];
  return g ? g.at + pickIn(r, Math.max(1, g.len)) : pickIn(r, fallback);
}

function run(r: () => number, at: number, len: number, size: number): [number, number[]] {
  const mode = r();
  const n = Math.max(1, Math.min(len, size - at));
  const v = mode < 0.4 ? 0 : mode < 0.7 ? 0xff : -1;
  return [at, Array.from({ length: n }, () => (v >= 0 ? v : pickIn(r, 256)))];
}

/** A random mutation of `input` (deterministic for a given random source). */
export function mutateInput(input: FuzzInput, r: () => number): Mutation {
  const size = input.bytes.length;
  const kinds = ['bitflip', 'byterun', 'truncate', 'header-field', 'printk', 'kallsyms', 'open-region'];
  if (input.format === 'kdump') kinds.push('zero-bitmap', 'swap-descriptors');
  const kind = kinds[pickIn(r, kinds.length)]!;
  const patches: Mutation['patches'] = [];
  let cut = size;
  const flip = (at: number) => patches.push([at, [input.bytes[at]! ^ (1 << pickIn(r, 8))]]);
  switch (kind) {
    case 'bitflip':
      for (let i = 1 + pickIn(r, 8); i > 0; i--) flip(r() < 0.7 ? pickIn(r, Math.min(size, 1 << 16)) : pickIn(r, size));
      break;
    case 'byterun':
      patches.push(run(r, pickIn(r, size), 1 + pickIn(r, 4096), size));
      break;
    case 'truncate':
      cut = r() < 0.5 ? pickIn(r, Math.min(size, 1 << 20)) : pickIn(r, size);
      break;
    case 'header-field': {
      const [, at, n] = input.fields[pickIn(r, input.fields.length)]!;
      const v = r() < 0.5 ? 0 : 0xff;
      patches.push([at, Array.from({ length: n }, (_, k) => (r() < 0.2 && k === n - 1 ? 0x7f : v))]);
      break;
    }
    case 'printk':
    case 'kallsyms':
    case 'open-region': {
      const regions = input.regions[kind === 'open-region' ? 'open' : kind];
      if (r() < 0.5) for (let i = 1 + pickIn(r, 6); i > 0; i--) flip(regionPoint(r, regions, size));
      else patches.push(run(r, regionPoint(r, regions, size), 1 + pickIn(r, 512), size));
      break;
    }
    case 'zero-bitmap': {
      const b = input.regions.bitmap[0]!;
      const at = b.at + pickIn(r, b.len);
      patches.push([at, Array.from({ length: Math.min(1 + pickIn(r, 4096), b.at + b.len - at) }, () => 0)]);
      break;
    }
    case 'swap-descriptors': {
      const d = input.regions.descriptors[0]!;
      const n = Math.floor(d.len / PageDesc.size);
      for (let k = 1 + pickIn(r, 3); k > 0; k--) {
        const i = pickIn(r, n);
        const j = r() < 0.5 ? Math.min(n - 1, i + 1) : pickIn(r, n);
        const a = d.at + i * PageDesc.size;
        const b = d.at + j * PageDesc.size;
        patches.push([a, [...input.bytes.subarray(b, b + PageDesc.size)]], [b, [...input.bytes.subarray(a, a + PageDesc.size)]]);
      }
      break;
    }
  }
  return { kind, patches, size: cut };
}

export function applyMutation(input: FuzzInput, m: Mutation, path: string): void {
  const out = Buffer.from(input.bytes.subarray(0, m.size));
  for (const [at, bytes] of m.patches) for (let k = 0; k < bytes.length && at + k < out.length; k++) out[at + k] = bytes[k]!;
  writeFileSync(path, out);
}

export interface RunResult {
  outcome: Outcome;
  code: number | null;
  signal: string | null;
  ms: number;
  peakRss: number;
  why?: string;
  stderr: string;
}

function peakRssOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs one command in a child process with the time and memory limits, and classifies it. */
export function runCommand(args: string[], json: boolean): Promise<RunResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let peak = 0;
    let killedFor: string | undefined;
    child.stdout.setEncoding('latin1').on('data', (d: string) => (out.length < 64 << 20 ? (out += d) : undefined));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (err += d));
    const poll = setInterval(() => {
      peak = Math.max(peak, peakRssOf(child.pid!));
      if (peak > RSS_LIMIT && !killedFor) {
        killedFor = `RSS ${Math.round(peak / 2 ** 20)} MiB over the 1 GiB limit`;
        child.kill('SIGKILL');
      }
    }, 50);
    const timer = setTimeout(() => {
      killedFor = `still running after ${TIME_LIMIT_MS / 1000} s`;
      child.kill('SIGKILL');
    }, TIME_LIMIT_MS);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      const ms = Date.now() - t0;
      const base = { code, signal, ms, peakRss: peak, stderr: err };
      const fail = (why: string): RunResult => ({ ...base, outcome: 'FAIL', why });
      if (killedFor) return resolve(fail(killedFor));
      if (signal) return resolve(fail(`killed by ${signal}`));
      if (/internal error|\n\s+at |Error: |TypeError|RangeError/.test(err)) return resolve(fail('stack trace or untyped error on stderr'));
      if (code === 1 || code === 2) {
        const lines = err.trimEnd().split('\n');
        if (lines.length !== 1 || !lines[0]!.startsWith('vmcore-ts: ')) return resolve(fail(`exit ${code} without exactly one 'vmcore-ts: ' line on stderr`));
        return resolve({ ...base, outcome: 'error' });
      }
      if (code !== 0 && code !== 3) return resolve(fail(`exit code ${code}`));
      if (code === 3 && !/^vmcore-ts: partial result: /m.test(err)) return resolve(fail('exit 3 without the "partial result:" line'));
      if (json) {
        try {
          for (const line of out.trimEnd().split('\n')) if (line) JSON.parse(line);
        } catch (e) {
          return resolve(fail(`--json output does not parse: ${(e as Error).message}`));
        }
      }
      resolve({ ...base, outcome: code === 3 ? 'partial' : 'ok' });
    });
  });
}

/** Makes the ELF and flattened inputs from the fixture with vmcore-ts itself (once; kept in `dir`). */
export function prepareInputs(dir: string): FuzzInput[] {
  mkdirSync(dir, { recursive: true });
  const elf = join(dir, 'fixture.elf');
  const flat = join(dir, 'fixture.flat');
  if (!existsSync(elf)) {
    const r = spawnSync(process.execPath, [...NODE_ARGS, CLI, 'convert', '-E', FIXTURE, elf + '.tmp'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`convert -E: ${r.stderr}`);
    spawnSync('mv', [elf + '.tmp', elf]);
  }
  if (!existsSync(flat)) {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" ${NODE_ARGS.join(' ')} ${CLI} convert -F -c "${FIXTURE}" > "${flat}.tmp" && mv "${flat}.tmp" "${flat}"`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`convert -F: ${r.stderr}`);
  }
  return [describeInput('kdump', FIXTURE), describeInput('elf', elf), describeInput('flattened', flat)];
}

export interface CaseResult extends RunResult {
  seed: number;
  command: string;
  format: Format;
  json: boolean;
  mutation: Mutation;
}

/** The case a seed makes: input, command, --json or not, mutation. */
export function caseFor(inputs: FuzzInput[], seed: number): { input: FuzzInput; command: string; json: boolean; mutation: Mutation } {
  const r = rng(seed);
  const names = Object.keys(COMMANDS);
  const input = inputs[pickIn(r, inputs.length)]!;
  const command = names[pickIn(r, names.length)]!;
  const json = r() < 0.5;
  return { input, command, json, mutation: mutateInput(input, r) };
}

/**
 * Runs the cases of `seeds` through a pool of `parallel` child processes; each case's mutated file
 * lives in `workDir` only while it runs. `onResult` sees each result as it comes.
 */
export async function fuzzCli(inputs: FuzzInput[], seeds: Iterable<number>, workDir: string, parallel = 2, onResult?: (r: CaseResult) => void): Promise<CaseResult[]> {
  mkdirSync(workDir, { recursive: true });
  const it = seeds[Symbol.iterator]();
  const results: CaseResult[] = [];
  const worker = async (w: number) => {
    const file = join(workDir, `mutated-${w}`);
    for (let n = it.next(); !n.done; n = it.next()) {
      const seed = n.value;
      const c = caseFor(inputs, seed);
      applyMutation(c.input, c.mutation, file);
      const args = [c.command, ...(c.json ? ['--json'] : []), file, ...COMMANDS[c.command]!];
      const res = await runCommand(args, c.json);
      const cr: CaseResult = { ...res, seed, command: c.command, format: c.input.format, json: c.json, mutation: c.mutation };
      if (cr.outcome === 'FAIL') saveFailure(cr, c.input, file);
      results.push(cr);
      onResult?.(cr);
    }
    rmSync(file, { force: true });
  };
  await Promise.all(Array.from({ length: parallel }, (_, w) => worker(w)));
  return results.sort((a, b) => a.seed - b.seed);
}

const ARTIFACTS = 'test-artifacts/cli-fuzz';

function saveFailure(c: CaseResult, input: FuzzInput, file: string): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  const base = join(ARTIFACTS, `seed-${c.seed}-${c.command}-${c.format}`);
  const cmd = `node bin/vmcore-ts.mjs ${c.command}${c.json ? ' --json' : ''} ${base}.dump ${COMMANDS[c.command]!.join(' ')}`;
  writeFileSync(
    base + '.json',
    JSON.stringify({ seed: c.seed, input: input.path, command: cmd, why: c.why, code: c.code, signal: c.signal, ms: c.ms, peakRss: c.peakRss, stderr: c.stderr.slice(0, 4000), mutation: c.mutation }, null, 1),
  );
  // The mutated dump itself, and how to get it back without it: scripts/fuzz-cli.ts --replay SEED.
  spawnSync('cp', [file, base + '.dump']);
  writeFileSync(base + '.sh', `# replay: node --import tsx scripts/fuzz-cli.ts --replay ${c.seed}\n${cmd}\n`);
}

/** "command × format: ok/partial/error/FAIL" counts, as a table. */
export function countTable(results: CaseResult[]): string {
  const formats: Format[] = ['kdump', 'elf', 'flattened'];
  const outcomes: Outcome[] = ['ok', 'partial', 'error', 'FAIL'];
  const lines = [`${'command'.padEnd(9)} ${formats.map((f) => `${f} (ok/partial/error/FAIL)`.padEnd(34)).join('')}`];
  for (const cmd of Object.keys(COMMANDS)) {
    const cells = formats.map((f) => {
      const rs = results.filter((r) => r.command === cmd && r.format === f);
      return `${rs.length} runs: ${outcomes.map((o) => rs.filter((r) => r.outcome === o).length).join('/')}`.padEnd(34);
    });
    lines.push(`${cmd.padEnd(9)} ${cells.join('')}`);
  }
  const total = outcomes.map((o) => `${o} ${results.filter((r) => r.outcome === o).length}`).join(', ');
  lines.push(`total ${results.length} runs: ${total}`);
  return lines.join('\n');
}
