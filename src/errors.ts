// Typed errors. The CLI turns each into one line and an exit code (src/cli/run.ts).

/** A file is not in the format we expected, or is damaged. `offset` is the byte offset in the file. */
export class ParseError extends Error {
  readonly offset: number | undefined;
  readonly source: string | undefined;
  readonly hint: string | undefined;
  constructor(message: string, opts: { offset?: number; source?: string; hint?: string } = {}) {
    super(message);
    this.name = 'ParseError';
    this.offset = opts.offset;
    this.source = opts.source;
    this.hint = opts.hint;
  }
}

/** A memory address the dump does not hold (excluded by filtering, a hole, or lost). */
export class NotInDumpError extends Error {
  readonly address: bigint;
  readonly physical: boolean;
  constructor(address: bigint, physical: boolean, why = 'not in dump') {
    super(`${physical ? 'physical' : 'virtual'} address 0x${address.toString(16)}: ${why}`);
    this.name = 'NotInDumpError';
    this.address = address;
    this.physical = physical;
  }
}

/** A kexec/kdump operation the kernel refused, or that we refuse before calling it. */
export class KexecError extends Error {
  readonly errno: number | undefined;
  readonly hint: string | undefined;
  constructor(message: string, opts: { errno?: number; hint?: string } = {}) {
    super(message);
    this.name = 'KexecError';
    this.errno = opts.errno;
    this.hint = opts.hint;
  }
}

/** Bad command-line usage: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
