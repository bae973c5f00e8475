// VMCOREINFO: the KEY=VALUE text the kernel leaves in a note for dump tools (kernel/vmcore_info.c).
// Radix per key kind follows the kernel's printing macros: SYMBOL() and KERNELOFFSET are hex without
// 0x, SIZE()/OFFSET()/LENGTH() decimal, NUMBER() signed decimal or 0x-hex (NUMBER(VMALLOC_START)).
import { ParseError } from '../errors.ts';

export class VmcoreInfo {
  /** Every KEY=VALUE line, in order; a repeated key keeps its last value (as makedumpfile does). */
  readonly entries: Map<string, string>;
  readonly raw: string;

  constructor(text: string) {
    this.raw = text;
    this.entries = new Map();
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      this.entries.set(line.slice(0, eq), line.slice(eq + 1).replace(/\0+$/, '').trimEnd());
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }
  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  get osrelease(): string | undefined {
    return this.get('OSRELEASE');
  }
  get buildId(): string | undefined {
    return this.get('BUILD-ID');
  }
  get pageSize(): number | undefined {
    return this.decimal('PAGESIZE');
  }
  /** CRASHTIME (seconds since the epoch), written at panic. */
  get crashTime(): bigint | undefined {
    const v = this.get('CRASHTIME');
    return v === undefined ? undefined : parseInteger(v, 10, 'CRASHTIME');
  }
  /** KERNELOFFSET: the KASLR slide of the kernel image (x86_64, arm64). */
  get kernelOffset(): bigint | undefined {
    const v = this.get('KERNELOFFSET');
    return v === undefined ? undefined : parseInteger(v, 16, 'KERNELOFFSET');
  }

  /** SYMBOL(name): a runtime (already relocated) kernel virtual address. */
  symbol(name: string): bigint | undefined {
    const key = `SYMBOL(${name})`;
    const v = this.get(key);
    return v === undefined ? undefined : parseInteger(v, 16, key);
  }
  /** SIZE(name) in bytes. */
  size(name: string): number | undefined {
    return this.decimal(`SIZE(${name})`);
  }
  /** OFFSET(struct.field) in bytes. */
  offset(structField: string): number | undefined {
    return this.decimal(`OFFSET(${structField})`);
  }
  /** LENGTH(name): an array length. */
  length(name: string): number | undefined {
    return this.decimal(`LENGTH(${name})`);
  }
  /** NUMBER(name): signed; decimal, or hex when written with 0x. */
  number(name: string): bigint | undefined {
    const key = `NUMBER(${name})`;
    const v = this.get(key);
    return v === undefined ? undefined : parseInteger(v, 0, key);
  }

  // The require* forms throw one clear line naming the missing key and what it is needed for.
  requireSymbol(name: string, forWhat: string): bigint {
    return need(this.symbol(name), `SYMBOL(${name})`, forWhat);
  }
  requireSize(name: string, forWhat: string): number {
    return need(this.size(name), `SIZE(${name})`, forWhat);
  }
  requireOffset(structField: string, forWhat: string): number {
    return need(this.offset(structField), `OFFSET(${structField})`, forWhat);
  }
  requireNumber(name: string, forWhat: string): bigint {
    return need(this.number(name), `NUMBER(${name})`, forWhat);
  }
  requireLength(name: string, forWhat: string): number {
    return need(this.length(name), `LENGTH(${name})`, forWhat);
  }

  private decimal(key: string): number | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : Number(parseInteger(v, 10, key));
  }
}

export function parseVmcoreinfo(text: string): VmcoreInfo {
  return new VmcoreInfo(text);
}

/** An error for a VMCOREINFO key that is absent but needed. */
export function missingKey(key: string, forWhat: string): ParseError {
  return new ParseError(`VMCOREINFO has no ${key}, needed for ${forWhat}`, {
    hint: 'the kernel did not export it (too old, or a config option is off); a vmlinux or System.map may help',
  });
}

function need<T>(v: T | undefined, key: string, forWhat: string): T {
  if (v === undefined) throw missingKey(key, forWhat);
  return v;
}

/** radix 0: 0x-prefix means hex, else decimal (strtol base 0, without octal). */
function parseInteger(text: string, radix: 0 | 10 | 16, key: string): bigint {
  let s = text.trim();
  let neg = false;
  if (s.startsWith('-')) {
    neg = true;
    s = s.slice(1);
  }
  let r = radix;
  if (/^0x/i.test(s)) {
    s = s.slice(2);
    r = 16;
  } else if (r === 0) r = 10;
  const ok = r === 16 ? /^[0-9a-f]+$/i.test(s) : /^[0-9]+$/.test(s);
  if (!ok) throw new ParseError(`VMCOREINFO ${key}=${text}: not a ${r === 16 ? 'hex' : 'decimal'} number`);
  const v = r === 16 ? BigInt('0x' + s) : BigInt(s);
  return neg ? -v : v;
}
