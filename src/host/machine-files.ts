// The one reader of a machine's /proc, /sys and /boot files. `root` is '/' for this machine, or a
// directory shaped like / holding another machine's copies (--root DIR, tests): every host reader
// takes (root, absolute path) and goes through here, so --root means the same everywhere.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where `path` (absolute, as on the machine) is under `root`. */
export function machinePath(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

/** The file's text, or undefined when it does not exist or cannot be read. */
export function readText(root: string, path: string, encoding: 'latin1' | 'utf8' = 'latin1'): string | undefined {
  try {
    return readFileSync(machinePath(root, path), encoding);
  } catch {
    return undefined;
  }
}

/** The file's bytes, or undefined when it does not exist or cannot be read. */
export function readBytes(root: string, path: string): Uint8Array | undefined {
  try {
    return readFileSync(machinePath(root, path));
  } catch {
    return undefined;
  }
}

/** A directory's entry names, or [] when it does not exist or cannot be read. */
export function listDir(root: string, path: string): string[] {
  try {
    return readdirSync(machinePath(root, path));
  } catch {
    return [];
  }
}
