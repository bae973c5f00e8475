// An S3 dump target's address: `s3://BUCKET[/PREFIX]` (vmcore-ts save --to, collect serve --blobs,
// and kdump-ts.conf's target), and an S3 endpoint's: `http(s)://HOST[:PORT]`. Pure.
import { UsageError } from './errors.ts';

export interface S3Target {
  bucket: string;
  /** Key prefix ending in '/', or ''. */
  prefix: string;
}

/** `s3://BUCKET[/PREFIX]`; `label` names the setting in errors (`--to`, `target =`, `--blobs`). */
export function parseS3Url(url: string, label = '--to'): S3Target {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new UsageError(`${label} ${url}: give s3://BUCKET[/PREFIX] (a bucket name is 3-63 of a-z, 0-9, '.', '-')`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (/\/\/|(^|\/)\.\.?(\/|$)/.test(prefix)) throw new UsageError(`${label} ${url}: the prefix has an empty, '.' or '..' component`);
  return { bucket: m[1]!, prefix: prefix ? prefix + '/' : '' };
}

/** An S3 endpoint: http(s)://HOST[:PORT] with nothing after it. */
export function isS3Endpoint(url: string): boolean {
  return /^https?:\/\/[^\s/]+\/?$/.test(url);
}
