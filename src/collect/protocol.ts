// The triage protocol between a capture kernel and the collector (issue 14), as data: what a crash
// report holds, what the collector answers, and the checks a report passes before anything is stored.
// Pure: the server (src/host/collector-server.ts) and the capture side (`vmcore-ts triage`) share it.
import type { CrashSignature } from '../analyze/signature.ts';
import { ParseError } from '../errors.ts';

export const API_PREFIX = '/v1';

/** POST /v1/crashes: sent from the capture kernel before any bulk transfer (kilobytes). */
export interface CrashReport {
  /** The crashed machine's name; must be the name its token belongs to. */
  host: string;
  signature: CrashSignature;
  /** The last kernel log lines, as text. */
  log: string;
  /** When the crash happened or was found (ISO 8601); the collector's clock when absent. */
  time?: string;
}

/** The collector's answer. */
export interface CrashReply {
  id: string;
  bucket: string;
  /** Send the dump (save --to <uploadPath> on the collector's URL). */
  needDump: boolean;
  /** Why the dump is or is not wanted, in words. */
  why: string;
  /** Where the dump goes, relative to the collector's URL: /v1/crashes/ID/dump. */
  uploadPath?: string;
  /** How many times this bucket was seen, this crash included. */
  count: number;
}

/** One stored file of a dump, as GET /v1/crashes/ID/dump/ lists it (the HTTP ChunkStore's stored()). */
export interface StoredFile {
  file: string;
  size: number;
  sha256: string;
}

export const MAX_REPORT_BYTES = 1 << 20;
export const MAX_LOG_BYTES = 512 << 10;
/** Host names as hostnames and kdumpctl's directory names give them (also IP addresses). */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;
export const BUCKET = /^[0-9a-f]{16}$/;
/** Crash ids: 24 lower-case hex digits (random, made by the collector). */
export const CRASH_ID = /^[0-9a-f]{24}$/;
/** A dump file's name (chunk files and the manifest, src/dump/chunked.ts). */
export const DUMP_FILE = /^[\w+-][\w.+-]{0,200}$/;

const str = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

/** A report's JSON, checked field by field; the error names the first field that is wrong. */
export function parseCrashReport(text: string): CrashReport {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ParseError(`the crash report is not JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ParseError('the crash report is not a JSON object');
  if (!str(v.host, 253) || !HOST_NAME.test(v.host)) throw new ParseError('crash report: "host" must be a host name (letters, digits, . _ : -)');
  if (!str(v.log, MAX_LOG_BYTES)) throw new ParseError(`crash report: "log" must be text of at most ${MAX_LOG_BYTES} bytes`);
  if (v.time !== undefined && (!str(v.time, 40) || Number.isNaN(Date.parse(v.time)))) throw new ParseError('crash report: "time" must be an ISO 8601 date');
  const s = v.signature as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object') throw new ParseError('crash report: "signature" is missing (vmcore-ts summary --json has it)');
  if (!str(s.bucket, 16) || !BUCKET.test(s.bucket)) throw new ParseError('crash report: "signature.bucket" must be 16 hex digits');
  if (!str(s.reason, 4096)) throw new ParseError('crash report: "signature.reason" must be text');
  if (!Array.isArray(s.frames) || s.frames.length > 64 || !s.frames.every((f) => str(f, 512))) throw new ParseError('crash report: "signature.frames" must be a list of function names');
  for (const k of ['module', 'moduleBuildId', 'release'] as const) {
    if (s[k] !== undefined && !str(s[k], 256)) throw new ParseError(`crash report: "signature.${k}" must be text`);
  }
  const signature: CrashSignature = { bucket: s.bucket, reason: s.reason, frames: s.frames as string[] };
  if (s.module !== undefined) signature.module = s.module as string;
  if (s.moduleBuildId !== undefined) signature.moduleBuildId = s.moduleBuildId as string;
  if (s.release !== undefined) signature.release = s.release as string;
  return { host: v.host, signature, log: v.log, ...(v.time !== undefined ? { time: new Date(v.time as string).toISOString() } : {}) };
}

/** The last `n` lines of a log text. */
export function lastLines(text: string, n: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.slice(Math.max(0, lines.length - n)).join('\n') + '\n';
}

/**
 * Where the collector keeps blobs (logs, dump chunks, manifests): a directory here
 * (src/host/blob-store.ts), S3-compatible storage beside it. Keys are `crashes/ID/...`.
 */
export interface BlobStore {
  readonly where: string;
  /** Stores the whole blob or nothing (a reader never sees half of one). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The blob, undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** `length` bytes from `start` (fewer at the end of the blob). */
  read(key: string, start: number, length: number): Promise<Uint8Array>;
  /** Stores a local file (a whole dump, imported) without holding it in memory. */
  putFile(key: string, path: string): Promise<void>;
}

/** Who a bearer token belongs to: a host (reports its own crashes, uploads their dumps) or a viewer (reads the fleet). */
export type Principal = { kind: 'host'; host: string } | { kind: 'viewer'; name: string };

/**
 * The tokens file: one `HOST TOKEN` per line (the host's own crashes), `@viewer NAME TOKEN` for
 * read access (the fleet page and its API), `#` comments. Tokens are 16+ characters of
 * [A-Za-z0-9_-.~+/=] (`openssl rand -base64 24`).
 */
export function parseTokens(text: string, where: string): Map<string, Principal> {
  const out = new Map<string, Principal>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    const bad = (why: string) => new ParseError(`${where} line ${i + 1}: ${why}`, { hint: 'lines are "HOST TOKEN" or "@viewer NAME TOKEN"' });
    let token: string, p: Principal;
    if (words[0] === '@viewer' && words.length === 3) [token, p] = [words[2]!, { kind: 'viewer', name: words[1]! }];
    else if (words.length === 2 && HOST_NAME.test(words[0]!)) [token, p] = [words[1]!, { kind: 'host', host: words[0]! }];
    else throw bad(`"${line.slice(0, 60)}" is not "HOST TOKEN" nor "@viewer NAME TOKEN"`);
    if (!/^[\w.~+/=-]{16,512}$/.test(token)) throw bad('a token is 16 to 512 characters of letters, digits and _ . ~ + / = -');
    if (out.has(token)) throw bad('this token is given twice');
    out.set(token, p);
  }
  if (out.size === 0) throw new ParseError(`${where}: no tokens`, { hint: 'lines are "HOST TOKEN" or "@viewer NAME TOKEN"' });
  return out;
}
