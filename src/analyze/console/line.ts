// A console command line as crash reads one: words separated by blanks, '...' and "..." quoting
// (a '...' word is kept marked: ps and foreach take it as a regular expression), then an optional
// `| shell command` or `> file` / `>> file` after the command (`->` is a C member access, not a redirect) (the Node shell runs those; the
// viewer's console refuses them).
import { UsageError } from '../../errors.ts';

export interface Word {
  text: string;
  /** Written in single quotes (crash: a regular expression for task names). */
  regex: boolean;
}

export interface CommandLine {
  /** The command and its arguments, before any `|` or `>`. */
  command: string;
  words: Word[];
  /** What follows an unquoted `|`: a shell command the output goes to. */
  pipe?: string;
  /** What follows an unquoted `>` or `>>`: a file the output goes to. */
  redirect?: { file: string; append: boolean };
}

/** Splits at the first unquoted `|` or `>`, and the command part into words. */
export function parseLine(line: string): CommandLine {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '|') {
      const pipe = line.slice(i + 1).trim();
      if (!pipe) throw new UsageError("'|' wants a shell command after it");
      return { command: line.slice(0, i), words: splitWords(line.slice(0, i)), pipe };
    } else if (c === '>' && line[i - 1] !== '-') {
      const append = line[i + 1] === '>';
      const file = line.slice(i + (append ? 2 : 1)).trim();
      const words = splitWords(file);
      if (words.length !== 1) throw new UsageError(`'${append ? '>>' : '>'}' wants one file name after it`);
      return { command: line.slice(0, i), words: splitWords(line.slice(0, i)), redirect: { file: words[0]!.text, append } };
    }
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote`);
  return { command: line, words: splitWords(line) };
}

/** Blank-separated words; quotes group and are removed (a word that was all '...' is marked regex). */
export function splitWords(s: string): Word[] {
  const out: Word[] = [];
  let cur = '';
  let inWord = false;
  let regex = false;
  let quote = '';
  for (const c of s) {
    if (quote) {
      if (c === quote) quote = '';
      else cur += c;
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (inWord) out.push({ text: cur, regex });
      cur = '';
      inWord = false;
      regex = false;
      continue;
    }
    if (c === "'" || c === '"') {
      if (!inWord && c === "'") regex = true;
      quote = c;
      inWord = true;
      continue;
    }
    if (regex && inWord && !quote) regex = false; // 'abc'def is not a plain regex word
    cur += c;
    inWord = true;
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote`);
  if (inWord) out.push({ text: cur, regex });
  return out;
}
