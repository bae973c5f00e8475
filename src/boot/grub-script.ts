// The GRUB script language (GRUB manual, "Shell-like scripting"): a lexer and a recursive-descent
// parser for its grammar — words with GRUB's quoting ('…' literal; "…" with $var and \ before $ " \
// and newline; unquoted \ escapes any character; $name, ${name}, $1, $?, $#, $@, $*), `;` and newlines,
// `#` comments, if/then/elif/else/fi, for/in/do/done, while/until, function NAME { … },
// menuentry/submenu (and the hiddenentry some distributions add) with their { … } blocks.
// The evaluator of what distributions generate is grub.ts.
import { ParseError } from '../errors.ts';

export type WordPart = { kind: 'text'; text: string; quoted: boolean } | { kind: 'var'; name: string; quoted: boolean };
export interface Word {
  parts: WordPart[];
  line: number;
}
export type Command =
  | { kind: 'simple'; words: Word[]; line: number }
  | { kind: 'if'; branches: { cond: Command[]; body: Command[] }[]; otherwise?: Command[]; line: number }
  | { kind: 'for'; name: string; items: Word[]; body: Command[]; line: number }
  | { kind: 'while'; until: boolean; cond: Command[]; body: Command[]; line: number }
  | { kind: 'function'; name: string; body: Command[]; line: number }
  | { kind: 'menu'; keyword: 'menuentry' | 'submenu' | 'hiddenentry'; args: Word[]; body: Command[]; line: number };

type Token = { kind: 'word'; word: Word } | { kind: 'sep'; line: number; text: ';' | '\n' } | { kind: 'eof'; line: number };

const NAME_CHAR = /[A-Za-z0-9_]/;
const SPECIAL_VARS = new Set(['?', '#', '@', '*']);

/** Splits a script into words and separators. */
export function lex(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const fail = (msg: string, hint?: string): never => {
    throw new ParseError(msg, { source: file, line, ...(hint ? { hint } : {}) });
  };
  const readVar = (quoted: boolean): WordPart => {
    // at '$'
    i++;
    if (src[i] === '{') {
      const end = src.indexOf('}', i);
      if (end < 0) fail('unterminated ${');
      const name = src.slice(i + 1, end);
      i = end + 1;
      return { kind: 'var', name, quoted };
    }
    if (src[i] !== undefined && (SPECIAL_VARS.has(src[i]!) || /[0-9]/.test(src[i]!))) return { kind: 'var', name: src[i++]!, quoted };
    let name = '';
    while (i < src.length && NAME_CHAR.test(src[i]!)) name += src[i++];
    if (!name) return { kind: 'text', text: '$', quoted };
    return { kind: 'var', name, quoted };
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '\\' && src[i + 1] === '\n') {
      i += 2;
      line++;
      continue;
    }
    if (c === '\n' || c === ';') {
      out.push({ kind: 'sep', line, text: c });
      if (c === '\n') line++;
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '|' || c === '&' || c === '<' || c === '>') fail(`'${c}' is not part of the GRUB script language`, 'GRUB has no pipes, redirections or && / ||');
    // A word: up to unquoted white space or separator.
    const word: Word = { parts: [], line };
    const lit = (t: string, quoted: boolean) => {
      const last = word.parts[word.parts.length - 1];
      if (last && last.kind === 'text' && last.quoted === quoted) last.text += t;
      else word.parts.push({ kind: 'text', text: t, quoted });
    };
    while (i < src.length) {
      const d = src[i]!;
      if (d === ' ' || d === '\t' || d === '\r' || d === '\n' || d === ';' || d === '|' || d === '&' || d === '<' || d === '>') break;
      if (d === '\\') {
        if (src[i + 1] === '\n') {
          i += 2;
          line++;
          continue;
        }
        if (i + 1 >= src.length) fail('a backslash at the end of the file');
        lit(src[i + 1]!, true);
        i += 2;
      } else if (d === "'") {
        const end = src.indexOf("'", i + 1);
        if (end < 0) fail('unterminated single quote');
        const t = src.slice(i + 1, end);
        line += t.split('\n').length - 1;
        lit(t, true);
        i = end + 1;
      } else if (d === '"') {
        const startLine = line;
        i++;
        lit('', true); // "" is an (empty) argument
        for (;;) {
          if (i >= src.length) {
            line = startLine;
            fail('unterminated double quote');
          }
          const e = src[i]!;
          if (e === '"') {
            i++;
            break;
          }
          if (e === '\\' && (src[i + 1] === '$' || src[i + 1] === '"' || src[i + 1] === '\\')) {
            lit(src[i + 1]!, true);
            i += 2;
          } else if (e === '\\' && src[i + 1] === '\n') {
            i += 2;
            line++;
          } else if (e === '$') word.parts.push(readVar(true));
          else {
            if (e === '\n') line++;
            lit(e, true);
            i++;
          }
        }
      } else if (d === '$') word.parts.push(readVar(false));
      else {
        lit(d, false);
        i++;
      }
    }
    out.push({ kind: 'word', word });
  }
  out.push({ kind: 'eof', line });
  return out;
}

/** The word as plain text when it is one unquoted literal (keywords, braces), else undefined. */
export function bareWord(w: Word): string | undefined {
  return w.parts.length === 1 && w.parts[0]!.kind === 'text' && !w.parts[0]!.quoted ? w.parts[0]!.text : undefined;
}

const KEYWORDS = new Set(['if', 'then', 'elif', 'else', 'fi', 'for', 'in', 'do', 'done', 'while', 'until', 'function', 'menuentry', 'submenu', 'hiddenentry', '{', '}']);

/** Parses a GRUB script into commands; a syntax error is a ParseError at FILE:LINE. */
export function parseGrubScript(src: string, file: string): Command[] {
  const toks = lex(src, file);
  let p = 0;
  const peek = () => toks[p]!;
  const lineOf = (t: Token) => (t.kind === 'word' ? t.word.line : t.line);
  const fail = (msg: string, t: Token = peek()): never => {
    throw new ParseError(msg, { source: file, line: lineOf(t) });
  };
  const kw = (t: Token) => (t.kind === 'word' ? bareWord(t.word) : undefined);
  const skipSeps = () => {
    while (peek().kind === 'sep') p++;
  };
  const expect = (k: string, what: string) => {
    skipSeps();
    if (kw(peek()) !== k) fail(`expected '${k}' ${what}${peek().kind === 'eof' ? ', found the end of the file' : kw(peek()) ? `, found '${kw(peek())}'` : ''}`);
    p++;
  };

  function list(stop: readonly string[]): Command[] {
    const out: Command[] = [];
    for (;;) {
      skipSeps();
      const t = peek();
      if (t.kind === 'eof') {
        if (stop.length) fail(`expected ${stop.map((s) => `'${s}'`).join(' or ')} before the end of the file`);
        return out;
      }
      const k = kw(t);
      if (k !== undefined && stop.includes(k)) return out;
      out.push(command());
    }
  }

  function block(what: string): Command[] {
    expect('{', what);
    const body = list(['}']);
    p++;
    return body;
  }

  function command(): Command {
    const t = peek() as Extract<Token, { kind: 'word' }>;
    const line = t.word.line;
    const k = kw(t);
    if (k === 'if') {
      p++;
      const branches: { cond: Command[]; body: Command[] }[] = [];
      let otherwise: Command[] | undefined;
      for (;;) {
        const cond = list(['then']);
        p++;
        const body = list(['elif', 'else', 'fi']);
        branches.push({ cond, body });
        const end = kw(peek());
        p++;
        if (end === 'elif') continue;
        if (end === 'else') {
          otherwise = list(['fi']);
          p++;
        }
        break;
      }
      return { kind: 'if', branches, ...(otherwise ? { otherwise } : {}), line };
    }
    if (k === 'for') {
      p++;
      const nameTok = peek();
      const name = kw(nameTok);
      if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail("expected a variable name after 'for'");
      p++;
      if (kw(peek()) !== 'in') fail("expected 'in' after for NAME");
      p++;
      const items: Word[] = [];
      while (peek().kind === 'word' && kw(peek()) !== 'do') items.push((toks[p++] as Extract<Token, { kind: 'word' }>).word);
      expect('do', 'in a for loop');
      const body = list(['done']);
      p++;
      return { kind: 'for', name: name!, items, body, line };
    }
    if (k === 'while' || k === 'until') {
      p++;
      const cond = list(['do']);
      p++;
      const body = list(['done']);
      p++;
      return { kind: 'while', until: k === 'until', cond, body, line };
    }
    if (k === 'function') {
      p++;
      const name = kw(peek());
      if (!name || KEYWORDS.has(name)) fail("expected a function name after 'function'");
      p++;
      return { kind: 'function', name: name!, body: block(`after function ${name}`), line };
    }
    if (k === 'menuentry' || k === 'submenu' || k === 'hiddenentry') {
      p++;
      const args: Word[] = [];
      while (peek().kind === 'word' && kw(peek()) !== '{') args.push((toks[p++] as Extract<Token, { kind: 'word' }>).word);
      if (kw(peek()) !== '{') fail(`expected '{' to open the ${k} block on the same line`);
      return { kind: 'menu', keyword: k, args, body: block(`after ${k}`), line };
    }
    if (k !== undefined && KEYWORDS.has(k) && k !== '{') fail(`unexpected '${k}'`);
    const words: Word[] = [];
    while (peek().kind === 'word' && !(words.length > 0 && kw(peek()) === '}')) words.push((toks[p++] as Extract<Token, { kind: 'word' }>).word);
    return { kind: 'simple', words, line };
  }

  const out = list([]);
  return out;
}
