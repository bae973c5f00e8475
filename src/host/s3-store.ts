// Node edge: `save --to s3://BUCKET/PREFIX` — the flattened stream as ONE object, NAME.flat, sent as
// an S3 multipart upload whose parts are the chunks (src/dump/chunked.ts), then NAME.manifest.json
// written after the upload is completed: an object without its manifest is incomplete by
// construction. A cut transfer leaves the multipart upload open on the server; the next save finds
// it (the id kept in the small object NAME.upload, else ListMultipartUploads), lists its parts (ListParts) and sends
// only the parts whose content differs (the part's SHA-256 checksum when the server keeps one, else
// its ETag, the part's MD5 on every S3 server for unencrypted parts), then completes it.
// The AWS SDK (client-s3) does the signing and the HTTP; it runs in a worker thread (s3-sync.ts)
// because the save's sink is synchronous. lib-storage's Upload is not used: it cannot resume an
// upload, and it cuts the stream into parts itself, while here a part must be exactly one chunk.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { OutputError, ParseError, UsageError } from '../errors.ts';
import { MANIFEST_SUFFIX, type ChunkEntry, type ChunkStore } from '../dump/chunked.ts';
import { S3CallError, SyncS3, type S3Config, type S3Part } from './s3-sync.ts';
import { isS3Endpoint, type S3Target } from '../s3-url.ts';

export { parseS3Url, type S3Target } from '../s3-url.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region?: string;
}

/**
 * Reads a credentials file in the AWS shared-credentials format (`[default]` or the section
 * `profile`, `aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token` and
 * `region`). Refused unless only its owner (root, or whoever runs the save) can read it.
 */
export function readS3Credentials(file: string, profile = 'default'): S3Credentials {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new ParseError(`cannot read the S3 credentials: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { source: file });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new ParseError(`the S3 credentials file is open to group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`, { source: file, hint: `chmod 600 ${file}` });
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw new ParseError(`the S3 credentials file belongs to uid ${st.uid}, not to root or to this user`, { source: file, hint: `chown root: ${file}` });
  }
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
      const sec = /^\[\s*(?:profile\s+)?([^\]\s]+)\s*\]$/.exec(line);
      if (sec) {
        current = new Map();
        sections.set(sec[1]!, current);
        return;
      }
      const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
      if (!kv || !current) throw new ParseError(`not a credentials line (want [default], then aws_access_key_id = …)`, { source: file, line: i + 1 });
      current.set(kv[1]!.toLowerCase(), kv[2]!);
    });
  const sec = sections.get(profile) ?? (profile === 'default' && sections.size === 1 ? [...sections.values()][0] : undefined);
  if (!sec) throw new ParseError(`no [${profile}] section`, { source: file, hint: `sections: ${[...sections.keys()].join(', ') || 'none'}` });
  const accessKeyId = sec.get('aws_access_key_id');
  const secretAccessKey = sec.get('aws_secret_access_key');
  if (!accessKeyId || !secretAccessKey) throw new ParseError(`[${profile}] lacks aws_access_key_id or aws_secret_access_key`, { source: file });
  return { accessKeyId, secretAccessKey, sessionToken: sec.get('aws_session_token'), region: sec.get('region') };
}

export interface S3Options {
  /** Any S3 server: http(s)://HOST[:PORT] (path-style requests); undefined: AWS. */
  endpoint?: string;
  region?: string;
  credentials: S3Credentials;
  /** Attempts per request (the SDK's retries, with back-off). */
  maxAttempts?: number;
}

export function s3Config(target: S3Target, opts: S3Options): S3Config {
  if (opts.endpoint !== undefined && !isS3Endpoint(opts.endpoint)) throw new UsageError(`--s3-endpoint ${opts.endpoint}: give http(s)://HOST[:PORT]`);
  const { accessKeyId, secretAccessKey, sessionToken } = opts.credentials;
  return {
    bucket: target.bucket,
    endpoint: opts.endpoint?.replace(/\/$/, ''),
    region: opts.region ?? opts.credentials.region ?? 'us-east-1',
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    maxAttempts: opts.maxAttempts,
  };
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
const KEY_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'Forbidden']);

/** How the settings are named where the error is read: the save's options (default), kdump.conf's keys. */
export interface S3SettingNames {
  endpoint: string;
  credentials: string;
  region: string;
  /** Whether "the same save again resumes" applies (a save), or not (a check, the collector). */
  resumes: boolean;
}
export const S3_OPTION_NAMES: S3SettingNames = { endpoint: '--s3-endpoint', credentials: '--s3-credentials', region: '--s3-region', resumes: true };
export const S3_CONFIG_NAMES: S3SettingNames = { endpoint: 's3_endpoint', credentials: 's3_credentials', region: 's3_region', resumes: false };

/** An S3 call's failure as one line with what to do. */
export function s3Error(where: string, what: string, e: unknown, names: S3SettingNames = S3_OPTION_NAMES): OutputError {
  if (!(e instanceof S3CallError)) return new OutputError(`${where}: ${what}: ${(e as Error).message}`, { path: where });
  const name = e.errorName;
  const msg = e.message && e.message !== 'UnknownError' && e.message !== name ? `: ${e.message}` : '';
  if ((e.code && CONNECTION_CODES.has(e.code)) || name === 'TimeoutError' || /socket hang up|ECONNREFUSED|ECONNRESET/.test(e.message)) {
    return new OutputError(`${where}: ${what}: the server did not answer (${e.code ?? name}${msg})`, {
      path: where,
      hint: `check ${names.endpoint} and the network${names.resumes ? '; what is stored is kept: the same save again resumes' : ''}`,
    });
  }
  if (KEY_ERRORS.has(name) || e.status === 403) {
    return new OutputError(`${where}: ${what}: the server refused the key (${name}${msg})`, {
      path: where,
      hint: `check aws_access_key_id and aws_secret_access_key in ${names.credentials}, the region (${names.region}), and that the key may write to the bucket`,
    });
  }
  if (name === 'NoSuchBucket') return new OutputError(`${where}: no such bucket`, { path: where, hint: `create it first (${names.resumes ? 'the saver does' : 'kdump-ts and the collector do'} not create buckets), or check the name and ${names.endpoint}` });
  if (name === 'EntityTooSmall') return new OutputError(`${where}: ${what}: a part is too small for this server (EntityTooSmall)`, { path: where, hint: 'S3 parts must be 5 MiB or more except the last: --chunk-mib 5 or more' });
  return new OutputError(`${where}: ${what}: ${name}${msg}${e.status ? ` (HTTP ${e.status})` : ''}`, { path: where });
}

const PART = /\.part-(\d{5})$/;
const b64ToHex = (b: string) => Buffer.from(b, 'base64').toString('hex');
const hexToB64 = (h: string) => Buffer.from(h, 'hex').toString('base64');

/** One multipart upload of PREFIX/NAME.flat: a part per chunk, completed before the manifest is stored. */
export class S3MultipartStore implements ChunkStore {
  readonly where: string;
  private readonly s3: SyncS3;
  private readonly target: S3Target;
  private readonly name: string;
  private readonly key: string;
  private uploadId: string | undefined;
  /** Parts on the server: those of a resumed upload, then those sent now. */
  private readonly parts = new Map<number, S3Part>();
  /** Parts reused from a resumed upload. */
  resumedFrom: string | undefined;

  constructor(target: S3Target, name: string, opts: S3Options) {
    this.target = target;
    this.name = name;
    this.where = `s3://${target.bucket}/${target.prefix}`;
    this.key = `${target.prefix}${name}.flat`;
    this.s3 = new SyncS3(s3Config(target, opts));
  }

  private call<T>(what: string, req: Parameters<SyncS3['call']>[0]): T {
    try {
      return this.s3.call<T>(req);
    } catch (e) {
      throw s3Error(this.where, what, e);
    }
  }

  /** Finds the unfinished upload of NAME.flat and its parts (SHA-256s where the server keeps them). */
  stored(_prefix: string): Map<string, string> {
    // A key may put without reading (AWS answers 403 for a missing object without s3:ListBucket):
    // then there is no marker to go by; a wrong key or bucket is named by the next request.
    let marker: Uint8Array | null = null;
    try {
      marker = this.s3.call<Uint8Array | null>({ op: 'get', key: `${this.target.prefix}${this.name}.upload` });
    } catch (e) {
      if (e instanceof S3CallError && e.code && CONNECTION_CODES.has(e.code)) throw s3Error(this.where, 'reading the upload marker', e);
    }
    const candidates: string[] = [];
    if (marker) candidates.push(new TextDecoder().decode(marker).trim());
    else {
      // No marker (a cut between CreateMultipartUpload and its PUT, or an upload begun by another
      // tool): ask the server. Not every server lists uploads (Ceph's dbstore lists none; moto's
      // signature check of this request can fail): only an unreachable server stops the save here.
      try {
        const listed = this.s3.call<string | null>({ op: 'findUpload', key: this.key });
        if (listed) candidates.push(listed);
      } catch (e) {
        if (e instanceof S3CallError && e.code && CONNECTION_CODES.has(e.code)) throw s3Error(this.where, 'listing unfinished uploads', e);
      }
    }
    for (const id of candidates) {
      let parts: S3Part[];
      try {
        parts = this.s3.call<S3Part[]>({ op: 'listParts', key: this.key, uploadId: id });
      } catch (e) {
        if (e instanceof S3CallError && (e.errorName === 'NoSuchUpload' || e.status === 404)) continue;
        throw s3Error(this.where, 'listing the parts of the unfinished upload', e);
      }
      this.uploadId = id;
      this.resumedFrom = id;
      for (const p of parts) this.parts.set(p.number, p);
      break;
    }
    // Started now, before the dump is read: a refused key or a missing bucket fails at once.
    if (!this.uploadId) this.start();
    const out = new Map<string, string>();
    for (const p of this.parts.values()) if (p.sha256) out.set(`${this.name}.part-${String(p.number - 1).padStart(5, '0')}`, b64ToHex(p.sha256));
    return out;
  }

  private start(): void {
    this.uploadId = this.call<string>('starting the multipart upload', { op: 'create', key: this.key });
    // Where the next save finds this upload if the transfer is cut (not every server lists uploads).
    this.call('storing the upload marker', { op: 'put', key: `${this.target.prefix}${this.name}.upload`, body: new TextEncoder().encode(this.uploadId + '\n'), contentType: 'text/plain' });
  }

  /** Whether the unfinished upload already holds this chunk: same size and SHA-256, or same MD5 (ETag). */
  holds(file: string, bytes: Uint8Array, sha256: string): boolean {
    const number = partNumber(file);
    const p = number === undefined ? undefined : this.parts.get(number);
    if (!p || p.size !== bytes.length) return false;
    if (p.sha256) return b64ToHex(p.sha256) === sha256;
    return p.etag.replace(/"/g, '') === createHash('md5').update(bytes).digest('hex');
  }

  put(file: string, bytes: Uint8Array): void {
    const number = partNumber(file);
    if (number === undefined) {
      // The manifest (after join) or another small object: one PUT.
      this.call('storing ' + file, { op: 'put', key: this.target.prefix + file, body: bytes, contentType: file.endsWith('.json') ? 'application/json' : 'text/plain' });
      // The manifest is there: the upload marker has done its work. Best effort: a key allowed to
      // put but not to delete leaves it, and a later save finds its upload completed (NoSuchUpload).
      if (file.endsWith(MANIFEST_SUFFIX)) {
        try {
          this.s3.call({ op: 'delete', key: `${this.target.prefix}${this.name}.upload` });
        } catch {
          // kept: harmless
        }
      }
      return;
    }
    if (!this.uploadId) this.start();
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    const md5 = createHash('md5').update(bytes).digest('base64');
    const r = this.call<{ etag: string; sha256?: string }>(`sending part ${number}`, { op: 'uploadPart', key: this.key, uploadId: this.uploadId!, number, body: bytes, sha256, md5 });
    this.parts.set(number, { number, size: bytes.length, etag: r.etag, sha256: r.sha256 });
  }

  /** Completes the upload from the chunks' parts (in order); returns the object's name beside the manifest. */
  join(chunks: ChunkEntry[]): string {
    if (!this.uploadId || chunks.length === 0) {
      // Nothing to send (an empty stream): a plain empty object.
      this.put(`${this.name}.flat`, new Uint8Array(0));
      return `${this.name}.flat`;
    }
    const parts = chunks.map((c) => {
      const number = partNumber(c.file)!;
      const p = this.parts.get(number);
      if (!p) throw new OutputError(`${this.where}: part ${number} is neither stored nor sent`, { path: this.where });
      return { number, etag: p.etag, sha256: p.sha256 ?? hexToB64(c.sha256) };
    });
    this.call('completing the multipart upload', { op: 'complete', key: this.key, uploadId: this.uploadId, parts });
    return `${this.name}.flat`;
  }

  close(): void {
    this.s3.close();
  }
}

function partNumber(file: string): number | undefined {
  const m = PART.exec(file);
  return m ? Number(m[1]) + 1 : undefined;
}

/** Reads a saved dump back from S3 for `verify s3://…`: the manifest and byte ranges of the object. */
export class S3Reader {
  readonly where: string;
  private readonly s3: SyncS3;
  private readonly target: S3Target;
  constructor(target: S3Target, opts: S3Options) {
    this.target = target;
    this.where = `s3://${target.bucket}/${target.prefix}`;
    this.s3 = new SyncS3(s3Config(target, opts));
  }
  private call<T>(what: string, req: Parameters<SyncS3['call']>[0]): T {
    try {
      return this.s3.call<T>(req);
    } catch (e) {
      throw s3Error(this.where, what, e);
    }
  }
  /** The manifest's text, or undefined when there is none (then whether an upload marker is there). */
  manifest(name: string): { text?: string; unfinished: boolean } {
    const m = this.call<Uint8Array | null>('reading the manifest', { op: 'get', key: `${this.target.prefix}${name}${MANIFEST_SUFFIX}` });
    if (m) return { text: new TextDecoder().decode(m), unfinished: false };
    const marker = this.call<Uint8Array | null>('reading the upload marker', { op: 'get', key: `${this.target.prefix}${name}.upload` });
    return { unfinished: marker !== null };
  }
  /** Bytes [start, end) of an object beside the manifest (all of it without a range); undefined when it is missing. */
  range(object: string, range?: [number, number]): Uint8Array | undefined {
    if (range && range[1] === range[0]) return new Uint8Array(0);
    return this.call<Uint8Array | null>(`reading ${object}`, { op: 'get', key: this.target.prefix + object, range }) ?? undefined;
  }
  close(): void {
    this.s3.close();
  }
}

/**
 * Whether the S3 target can be reached and the key is accepted: HeadBucket (bounded: one attempt
 * per request, 10 s to connect). Throws the failure as s3Error gives it (unreachable, key refused,
 * no such bucket).
 */
export function probeS3Bucket(target: S3Target, opts: S3Options, names: S3SettingNames = S3_CONFIG_NAMES): void {
  const s3 = new SyncS3(s3Config(target, { maxAttempts: 2, ...opts }));
  try {
    s3.call({ op: 'headBucket' });
  } catch (e) {
    // HeadBucket's errors have no body: a 404 is the bucket, a 403 the key.
    if (e instanceof S3CallError && e.status === 404) throw s3Error(`s3://${target.bucket}/${target.prefix}`, 'HeadBucket', new S3CallError({ name: 'NoSuchBucket', message: '', status: 404 }), names);
    throw s3Error(`s3://${target.bucket}/${target.prefix}`, 'HeadBucket', e, names);
  } finally {
    s3.close();
  }
}
