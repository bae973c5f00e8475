// Seeded mutation fuzzing of the dump readers (used by format-fuzz.test.ts and scripts/fuzz-readers.ts).
// A mutated dump is a view over the original (patched bytes + a possibly shorter size), so even the
// 17 MB fixture costs nothing to mutate. Every failure must be a ParseError or NotInDumpError.
import { NotInDumpError, ParseError } from '../src/errors.ts';
import type { ByteSource } from '../src/io/source.ts';
import { openDump } from '../src/format/open-dump.ts';
import type { Dump } from '../src/format/dump.ts';

export function rng(seed: number): () => number {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `base` with some bytes replaced and possibly cut short. */
export class MutatedSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly base: ByteSource;
  private readonly patches: Map<number, number>;
  constructor(base: ByteSource, patches: Map<number, number>, size: number) {
    this.base = base;
    this.patches = patches;
    this.size = Math.min(size, base.size);
    this.name = `${base.name} (mutated)`;
  }
  read(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const b = this.base.read(offset, n);
    let out: Uint8Array | undefined;
    for (const [at, v] of this.patches) {
      if (at >= offset && at < offset + b.length) {
        out ??= b.slice();
        out[at - offset] = v;
      }
    }
    return out ?? b;
  }
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x1000, 0xfff, 24, 6];

/** One mutation of `base`: byte flips and interesting values, mostly in the first 64 KiB, and/or a cut. */
export function mutate(base: ByteSource, r: () => number): MutatedSource {
  const patches = new Map<number, number>();
  const hot = Math.min(base.size, 1 << 16);
  const pick = () => Math.floor(r() * (r() < 0.8 ? hot : base.size));
  const ops = 1 + Math.floor(r() * 6);
  for (let i = 0; i < ops; i++) {
    const at = pick();
    const kind = r();
    if (kind < 0.5) patches.set(at, Math.floor(r() * 256));
    else if (kind < 0.7) patches.set(at, INTERESTING[Math.floor(r() * INTERESTING.length)]!);
    else {
      const v = INTERESTING32[Math.floor(r() * INTERESTING32.length)]!;
      const aligned = at & ~3;
      for (let k = 0; k < 4; k++) patches.set(aligned + k, (v >>> (8 * k)) & 0xff);
    }
  }
  const cut = r() < 0.25 ? Math.floor(r() * base.size) : base.size;
  return new MutatedSource(base, patches, cut);
}

/** Opens and uses a dump the way the commands do; `error` is one that is not a typed one. */
export function exercise(src: ByteSource, r: () => number): { opened: boolean; pagesRead: number; error?: Error } {
  const attempt = (f: () => void): Error | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return e instanceof ParseError || e instanceof NotInDumpError ? undefined : (e as Error);
    }
  };
  let d: Dump | undefined;
  const opened = attempt(() => {
    d = openDump(src);
  });
  if (opened || !d) return { opened: false, pagesRead: 0, error: opened };
  const dump = d;
  const ps = BigInt(dump.pageSize);
  const runs: { startPfn: bigint; endPfn: bigint }[] = [];
  // Mostly pfns the dump claims to hold (they reach descriptors and codecs), some anywhere.
  const randomPfn = () => {
    const run = runs[Math.floor(r() * runs.length)];
    if (run && r() < 0.8) return run.startPfn + BigInt(Math.floor(r() * Number(run.endPfn - run.startPfn)));
    return dump.maxPfn > 0n ? BigInt(Math.floor(r() * Number(dump.maxPfn))) : 0n;
  };
  const steps: (() => void)[] = [
    () => void [dump.format, dump.compression, dump.dumpLevel, dump.incomplete, dump.notes.length, dump.vmcoreinfo, dump.header],
    () => void dump.warnings.length,
    () => void dump.pagesPresent(),
    () => {
      for (const run of dump.presentRuns()) {
        runs.push(run);
        if (runs.length <= 4) dump.readPhys(run.startPfn * ps, 64);
        if (runs.length >= 200) break;
      }
    },
  ];
  for (let i = 0; i < 8; i++) {
    steps.push(() => void dump.hasPage(randomPfn()));
    steps.push(() => {
      const pfn = randomPfn();
      dump.readPhys(pfn * ps + ps - 8n, 16); // crosses into the next page
      pagesRead += 2;
    });
  }
  let pagesRead = 0;
  for (const step of steps) {
    const error = attempt(step);
    if (error) return { opened: true, pagesRead, error };
  }
  return { opened: true, pagesRead };
}

export interface FuzzResult {
  cases: number;
  /** Cases whose mutated dump still opened, and random page pairs that still read. */
  opened: number;
  pagesRead: number;
  failures: { seed: number; input: string; error: Error }[];
}

/** Runs `cases` mutations of each input; seeds are `seed + i` so any failure can be replayed. */
export function fuzz(inputs: ByteSource[], cases: number, seed: number): FuzzResult {
  const failures: FuzzResult['failures'] = [];
  let n = 0;
  let opened = 0;
  let pagesRead = 0;
  for (const input of inputs) {
    for (let i = 0; i < cases; i++) {
      const s = seed + i;
      const r = rng(s);
      const res = exercise(mutate(input, r), r);
      n++;
      if (res.opened) opened++;
      pagesRead += res.pagesRead;
      if (res.error) failures.push({ seed: s, input: input.name, error: res.error });
    }
  }
  return { cases: n, opened, pagesRead, failures };
}
