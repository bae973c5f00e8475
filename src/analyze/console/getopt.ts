// Options of a console command as crash's commands take them (getopt): single letters, grouped
// (-ap), a value attached or in the next word (-c1, -c 1), the rest positional. Pure.
import { UsageError } from '../../errors.ts';
import type { Word } from './line.ts';

export interface Opts {
  /** Flags given (letter -> true) and values (letter -> every value given, in order). */
  flags: Set<string>;
  values: Map<string, string[]>;
  args: Word[];
}

/**
 * `spec`: getopt letters, a letter followed by ':' takes a value ("apc:"). `extra`: whole words
 * that are options of their own (rd's -8/-16/-32/-64), put in `flags` as written.
 */
export function getopt(command: string, words: Word[], spec: string, extra: readonly string[] = []): Opts {
  const flags = new Set<string>();
  const values = new Map<string, string[]>();
  const args: Word[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w.regex || !w.text.startsWith('-') || w.text === '-' || /^-\d+$/.test(w.text) && !extra.includes(w.text)) {
      args.push(w);
      continue;
    }
    if (extra.includes(w.text)) {
      flags.add(w.text);
      continue;
    }
    if (w.text === '--') {
      args.push(...words.slice(i + 1));
      break;
    }
    for (let j = 1; j < w.text.length; j++) {
      const c = w.text[j]!;
      const at = spec.indexOf(c);
      if (at < 0 || c === ':') throw new UsageError(`${command}: invalid option -- '${c}' (see: help ${command})`);
      if (spec[at + 1] === ':') {
        let v = w.text.slice(j + 1);
        if (!v) {
          const next = words[++i];
          if (!next) throw new UsageError(`${command}: option -${c} wants a value`);
          v = next.text;
        }
        values.set(c, [...(values.get(c) ?? []), v]);
        break;
      }
      flags.add(c);
    }
  }
  return { flags, values, args };
}
