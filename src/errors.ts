// Typed errors. The CLI turns each into one line and an exit code (src/cli/run.ts).

/** A file is not in the format we expected, or is damaged. `offset` is the byte offset in the file. */
export class ParseError extends Error {
  /** Byte offset in the file where the problem is, when known. */
  readonly offset: number | undefined;
  /** 1-based line of a text file (configuration), printed as SOURCE:LINE: like a compiler. */
  readonly line: number | undefined;
  /** The file (or data) it is about: a path, "BTF in …". */
  readonly source: string | undefined;
  /** What to do about it. */
  readonly hint: string | undefined;
  constructor(message: string, opts: { offset?: number; line?: number; source?: string; hint?: string } = {}) {
    super(message);
    this.name = 'ParseError';
    this.offset = opts.offset;
    this.line = opts.line;
    this.source = opts.source;
    this.hint = opts.hint;
  }
}

/**
 * Why a dump lacks an address, as a typed field (never match the message text):
 * - 'hole': not RAM (a hole in the memory map, beyond the memory the dump describes, or outside
 *   every PT_LOAD of an ELF core);
 * - 'excluded': RAM the dump level left out (information, not damage);
 * - 'lost': the dump should hold it but does not (truncated, never written, damaged, unreadable);
 * - 'unmapped': a virtual address the page tables do not map.
 */
export type NotInDumpReason = 'hole' | 'excluded' | 'lost' | 'unmapped';

/** A memory address the dump does not hold; `reason` says which kind of absence, `why` the details. */
export class NotInDumpError extends Error {
  /** The address the dump does not hold. */
  readonly address: bigint;
  /** Whether `address` is physical (else kernel virtual). */
  readonly physical: boolean;
  /** Which kind of absence. */
  readonly reason: NotInDumpReason;
  /** The explanation without the address ("excluded from the dump (makedumpfile dump level 31)"). */
  readonly why: string;
  constructor(address: bigint, physical: boolean, reason: NotInDumpReason, why = 'not in dump') {
    super(`${physical ? 'physical' : 'virtual'} address 0x${address.toString(16)}: ${why}`);
    this.name = 'NotInDumpError';
    this.address = address;
    this.physical = physical;
    this.reason = reason;
    this.why = why;
  }
}

/** What reading a damaged or partial dump may throw (a lost item, not a bug): rethrow anything else. */
export function isDumpDataError(e: unknown): e is NotInDumpError | ParseError {
  return e instanceof NotInDumpError || e instanceof ParseError;
}

/** Reading a file failed (EIO on a failing disk, EISDIR, …): which file, where, what the system said. */
export class ReadError extends Error {
  /** The file. */
  readonly source: string;
  /** Where the read started. */
  readonly offset: number;
  /** The system's error code (EIO, EISDIR, …). */
  readonly code: string | undefined;
  constructor(source: string, offset: number, length: number, cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    const why = (e instanceof Error ? e.message : String(cause)).replace(/^[A-Z]+: /, '').replace(/, read$/, '');
    super(`${source}: cannot read ${length} bytes at offset ${offset} (0x${offset.toString(16)}): ${code ? `${code} (${why})` : why}`);
    this.name = 'ReadError';
    this.source = source;
    this.offset = offset;
    this.code = code;
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

/** An output file refused (it is the input, it exists, another process writes it) or not writable. */
export class OutputError extends Error {
  readonly path: string;
  readonly hint: string | undefined;
  constructor(message: string, opts: { path: string; hint?: string }) {
    super(message);
    this.name = 'OutputError';
    this.path = opts.path;
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
