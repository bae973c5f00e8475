// An ssh dump target's address: `ssh://[user@]host[:port]/absolute/dir` (vmcore-ts save --to, and
// kdump-ts.conf's target). Pure.
import { UsageError } from './errors.ts';

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
  /** Absolute directory on the server. */
  dir: string;
}

/** `ssh://[user@]host[:port]/absolute/dir`; `label` names the setting in errors (`--to`, `target =`). */
export function parseSshUrl(url: string, label = '--to'): SshTarget {
  const m = /^ssh:\/\/(?:([^@/:\s]+)@)?(\[[0-9a-fA-F:]+\]|[^@/:\s]+)(?::(\d+))?(\/[^\s]*)$/.exec(url);
  if (!m) throw new UsageError(`${label} ${url}: give ssh://[USER@]HOST[:PORT]/ABSOLUTE/DIR`);
  const port = m[3] !== undefined ? Number(m[3]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`${label} ${url}: port ${port} is not 1-65535`);
  return { user: m[1], host: m[2]!, port, dir: m[4]! };
}

export function formatSshUrl(t: SshTarget): string {
  return `ssh://${t.user ? t.user + '@' : ''}${t.host}${t.port ? ':' + t.port : ''}${t.dir}`;
}
