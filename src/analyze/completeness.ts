// What a result lacks, as data every command and the viewer share. The rule:
//  - a page the dump level left out on purpose ('excluded': makedumpfile -d N) is not damage: the
//    result is complete for what the dump was made to hold, and says once, as information, how
//    many items it left out;
//  - anything else the result needed and could not read (truncated or damaged file, a pointer into
//    a hole or to an unmapped address, a damaged kernel structure) makes the result partial: the
//    CLI says so in one line and exits 3 (EXIT_PARTIAL), --json carries `partial` and `missing`.
import { DUMP_LEVEL_WORDS } from './page-class.ts';
import { NotInDumpError, ParseError, type NotInDumpReason } from '../errors.ts';

/** Why an item is not in a result: a NotInDumpError reason, a damaged structure (a loop, a bad
 * descriptor), or 'unreadable' (a ParseError: a missing VMCOREINFO key, an implausible value). */
export type GapReason = NotInDumpReason | 'damaged' | 'unreadable';

/** Items of one kind left out of a result for one reason. */
export interface Gap {
  /** What kind of item: "printk record", "task", "backtrace frame", "page frame", … */
  item: string;
  count: number;
  reason: GapReason;
  /** Each item and why (the first MAX_EXAMPLES), e.g. "task 0xff..: virtual address 0x…: excluded from the dump …". */
  examples: string[];
}

/** Items listed by name in a gap; more are only counted. */
export const MAX_EXAMPLES = 100;

export interface Completeness {
  /** True when something was lost to damage or truncation (not merely excluded by the dump level). */
  partial: boolean;
  /** Lost to damage, truncation, holes or unmapped pointers. */
  missing: Gap[];
  /** Left out by the dump level, by design (information). */
  excluded: Gap[];
  /** The dump level, when it excluded something. */
  dumpLevel: number | undefined;
}

export const COMPLETE: Completeness = Object.freeze({ partial: false, missing: [], excluded: [], dumpLevel: undefined }) as Completeness;

/** Collects what a result lacks while it is built. */
export class Gaps {
  private readonly gaps = new Map<string, Gap>();
  private readonly dumpLevel: number | undefined;
  constructor(dumpLevel?: number) {
    this.dumpLevel = dumpLevel;
  }

  /** Records one item of kind `item` that could not be read because of `e` (a typed error), `count` times. */
  add(item: string, e: NotInDumpError | ParseError, label?: string, count = 1): void {
    const reason: GapReason = e instanceof NotInDumpError ? e.reason : 'unreadable';
    this.note(item, reason, label ? `${label}: ${e.message}` : e.message, count);
  }

  /** Records a problem that is not an exception (a list that loops, a descriptor that does not match). */
  note(item: string, reason: GapReason, example: string, count = 1): void {
    if (count <= 0) return;
    const key = `${item}\0${reason}`;
    const g = this.gaps.get(key);
    if (g) {
      g.count += count;
      if (g.examples.length < MAX_EXAMPLES) g.examples.push(example);
    } else this.gaps.set(key, { item, count, reason, examples: [example] });
  }

  /** Runs `f`; a typed error records one `item` and gives undefined. */
  attempt<T>(item: string, f: () => T, label?: string): T | undefined {
    try {
      return f();
    } catch (e) {
      if (e instanceof NotInDumpError || e instanceof ParseError) {
        this.add(item, e, label);
        return undefined;
      }
      throw e;
    }
  }

  /** Adds another result's gaps. */
  merge(c: Completeness): void {
    for (const g of [...c.missing, ...c.excluded]) {
      this.note(g.item, g.reason, g.examples[0]!, g.count);
      const mine = this.gaps.get(`${g.item}\0${g.reason}`)!;
      for (const e of g.examples.slice(1)) if (mine.examples.length < MAX_EXAMPLES) mine.examples.push(e);
    }
  }

  result(): Completeness {
    const all = [...this.gaps.values()];
    const excluded = all.filter((g) => g.reason === 'excluded');
    const missing = all.filter((g) => g.reason !== 'excluded');
    return { partial: missing.length > 0, missing, excluded, dumpLevel: excluded.length ? this.dumpLevel : undefined };
  }
}

/** "1 task", "3 tasks", "2 addresses". */
export const plural = (n: number, item: string) => `${n} ${item}${n === 1 ? '' : item.endsWith('s') ? 'es' : 's'}`;

/** What makedumpfile's dump level bits leave out (-d N). */
export function dumpLevelMeaning(level: number): string {
  const left = DUMP_LEVEL_WORDS.filter((_, bit) => level & (1 << bit));
  return left.length ? left.join(', ') : 'nothing';
}

/**
 * The stderr lines for a result: one information line for what the dump level excluded, one line
 * for what was lost. Empty when the result is complete.
 */
export function describeCompleteness(c: Completeness): string[] {
  const lines: string[] = [];
  if (c.excluded.length) {
    const what = c.excluded.map((g) => plural(g.count, g.item)).join(', ');
    const level = c.dumpLevel !== undefined ? `dump level ${c.dumpLevel} (makedumpfile -d ${c.dumpLevel} leaves out ${dumpLevelMeaning(c.dumpLevel)})` : 'the dump level';
    lines.push(`note: ${what} excluded by ${level}; not damage, the dump was made without them`);
  }
  if (c.missing.length) {
    const what = c.missing.map((g) => `${plural(g.count, g.item)} ${g.reason}`).join(', ');
    lines.push(`partial result: ${what} (first: ${c.missing[0]!.examples[0]}); --json lists them`);
  }
  return lines;
}

/** The --json fields of a result's completeness (only those with something to say). */
export function completenessJson(c: Completeness): { partial: boolean; missing?: Gap[]; excluded?: Gap[]; dumpLevel?: number } {
  return {
    partial: c.partial,
    missing: c.missing.length ? c.missing : undefined,
    excluded: c.excluded.length ? c.excluded : undefined,
    dumpLevel: c.excluded.length ? c.dumpLevel : undefined,
  };
}
