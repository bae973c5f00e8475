// Fuzzing the typed API (src/api/): every helper run on damaged dumps must fail only with typed
// errors (ParseError — ObjectError is one — or NotInDumpError, each naming what it could not read),
// never another exception, never a hang. Two kinds of damage:
//  - the reader fuzzer's mutated files (test/format-fuzz-lib.ts mutate: headers, bitmaps, cuts);
//  - damaged kernel memory: bytes of the pages a clean run of the helpers read (task_structs, list
//    links, slab caches, rbtree nodes, dentries…) replaced by interesting values (NULL, small
//    integers, pointers to themselves, non-canonical addresses, all-ones), so the helpers walk
//    broken lists, trees and pointers.
// Used by test/api/api-fuzz.test.ts and scripts/fuzz-api.ts.
import { NotInDumpError, ParseError } from '../src/errors.ts';
import type { ByteSource } from '../src/io/source.ts';
import { KernelDump } from '../src/analyze/kernel-dump.ts';
import { openDump } from '../src/format/open-dump.ts';
import { CrashDump } from '../src/api/dump.ts';
import * as api from '../src/api/index.ts';
import { mutate, rng } from './format-fuzz-lib.ts';

/** Every helper the API has, as steps run one after the other (each may fail on its own). */
export function apiSteps(dump: CrashDump): [string, () => unknown][] {
  const init = () => dump.object('init_task');
  return [
    ['object', () => init().member('comm').string()],
    ['pointer', () => init().member('tasks.next').deref().containerOf('struct task_struct', 'tasks').member('pid').number()],
    ['perCpu', () => dump.perCpu('runqueues', 0).member('nr_running').number()],
    ['possibleCpus', () => dump.possibleCpus()],
    ['tasks', () => api.taskList(dump).length],
    ['tasksByState', () => api.tasksByState(dump)],
    ['mutexOwners', () => api.mutexOwners(dump)],
    ['slabUsage', () => api.slabUsage(dump)],
    ['modules', () => api.modules(dump)],
    ['runqueues', () => api.runqueues(dump)],
    ['taskFiles', () => api.taskFiles(dump, api.findTask(dump, 1).task)],
    ['mounts', () => api.mounts(dump)],
    ['meminfo', () => api.meminfo(dump)],
    ['zones', () => api.zones(dump)],
    ['blockDevices', () => api.blockDevices(dump)],
    ['xarray', () => [...api.xarrayEntries(dump.object('init_pid_ns').member('idr.idr_rt'))].length],
    ['rbtree', () => [...api.rbtreeNodes(dump.object('vmap_area_root'))].length],
    ['printk', () => dump.printk().length],
    ['symbols', () => dump.symbolAt(init().address)],
  ];
}

export interface ApiFailure {
  seed: number;
  step: string;
  error: Error;
}

/** Runs every step; returns the first error that is not typed (with its step), else undefined. */
export function exerciseApi(dump: CrashDump): { step: string; error: Error } | undefined {
  for (const [step, f] of apiSteps(dump)) {
    try {
      f();
    } catch (e) {
      if (!(e instanceof ParseError || e instanceof NotInDumpError)) return { step, error: e as Error };
    }
  }
  return undefined;
}

const VALUES64 = [0n, 1n, 0xffffffffffffffffn, 0x8000000000000000n, 0xdead000000000100n, 0x1000n, 0x7fffffffn];

/** The physical pages a clean run of every helper reads (the ones worth damaging). */
export function pagesRead(source: ByteSource): bigint[] {
  const kd = new KernelDump(openDump(source));
  const pages = new Set<bigint>();
  const orig = kd.dump.readPhys.bind(kd.dump);
  kd.dump.readPhys = (p, n) => {
    for (let a = p >> 12n; a <= (p + BigInt(Math.max(n, 1)) - 1n) >> 12n; a++) pages.add(a);
    return orig(p, n);
  };
  exerciseApi(new CrashDump(kd));
  return [...pages];
}

/**
 * A dump whose kernel memory is damaged: in 1..3 of `pages`, 1..8 aligned 8-byte words replaced
 * by interesting values (some pointing back into the same page, to make loops). Symbols and BTF
 * come from the clean dump (their damage is the reader fuzzer's and BTF tests' job), so each case
 * costs only the walks.
 */
export function damagedDump(source: ByteSource, clean: KernelDump, pages: bigint[], r: () => number): CrashDump {
  const patches = new Map<bigint, bigint>(); // physical address of a u64 -> value
  const npages = 1 + Math.floor(r() * 3);
  for (let i = 0; i < npages; i++) {
    const page = pages[Math.floor(r() * pages.length)]!;
    const words = 1 + Math.floor(r() * 8);
    for (let w = 0; w < words; w++) {
      const at = (page << 12n) + BigInt(Math.floor(r() * 512) * 8);
      const v = r() < 0.25 ? clean.memory.physToVirt(page << 12n) + BigInt(Math.floor(r() * 512) * 8) : VALUES64[Math.floor(r() * VALUES64.length)]!;
      patches.set(at, v);
    }
  }
  const dump = openDump(source);
  const orig = dump.readPhys.bind(dump);
  dump.readPhys = (p, n) => {
    const b = orig(p, n);
    let out: Uint8Array | undefined;
    for (const [at, v] of patches) {
      if (at + 8n <= p || at >= p + BigInt(n)) continue;
      out ??= b.slice();
      for (let k = 0; k < 8; k++) {
        const o = at + BigInt(k) - p;
        if (o >= 0n && o < BigInt(n)) out[Number(o)] = Number((v >> BigInt(8 * k)) & 0xffn);
      }
    }
    return out ?? b;
  };
  return new CrashDump(new KernelDump(dump, { symbols: clean.symbols, btf: () => clean.btf }));
}

/** `cases` damaged-memory cases (seeds seed..seed+cases-1) and `fileCases` mutated files. */
export function fuzzApi(source: ByteSource, cases: number, fileCases: number, seed: number): { cases: number; failures: ApiFailure[] } {
  const failures: ApiFailure[] = [];
  const clean = new KernelDump(openDump(source));
  const pages = pagesRead(source);
  for (let i = 0; i < cases; i++) {
    const r = rng(seed + i);
    const f = exerciseApi(damagedDump(source, clean, pages, r));
    if (f) failures.push({ seed: seed + i, ...f });
  }
  for (let i = 0; i < fileCases; i++) {
    const r = rng(seed + i);
    let dump: CrashDump;
    try {
      // The mutated file's own reader and memory; the clean symbols and BTF (see damagedDump).
      dump = new CrashDump(new KernelDump(openDump(mutate(source, r)), { symbols: clean.symbols, btf: () => clean.btf }));
    } catch (e) {
      if (!(e instanceof ParseError || e instanceof NotInDumpError)) failures.push({ seed: seed + i, step: 'open', error: e as Error });
      continue;
    }
    const f = exerciseApi(dump);
    if (f) failures.push({ seed: seed + i, ...f });
  }
  return { cases: cases + fileCases, failures };
}
