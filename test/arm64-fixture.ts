// Reads fixtures/arm64/guest-probe.txt (recorded by fixtures/arm64/record.sh): sections that start
// with "=== TITLE" lines.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const probeUrl = new URL('../fixtures/arm64/guest-probe.txt', import.meta.url);

export function probeSection(titlePrefix: string): string {
  const text = readFileSync(probeUrl, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('=== ' + titlePrefix));
  if (start < 0) throw new Error(`guest-probe.txt has no section "${titlePrefix}"`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('=== '));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The DTB the recorded guest received (/sys/firmware/fdt). */
export function recordedFdt(): Uint8Array {
  return new Uint8Array(gunzipSync(Buffer.from(probeSection('/sys/firmware/fdt').replace(/\s+/g, ''), 'base64')));
}

export function recordedIomem(): string {
  return probeSection('/proc/iomem') + '\n';
}

/** The first 4 KiB of the recorded Image, and the whole file's size (from the probe's header). */
export function recordedImageHeader(): { head: Uint8Array; size: number } {
  const head = new Uint8Array(readFileSync(new URL('../fixtures/arm64/Image-header.bin', import.meta.url)));
  const m = /# Image size: (\d+) bytes/.exec(readFileSync(probeUrl, 'utf8'));
  if (!m) throw new Error('guest-probe.txt does not record the Image size');
  return { head, size: Number(m[1]) };
}

/** `kexec -d` segment lines of a recorded section: entry, flags and (mem, memsz, bufsz) per segment. */
export function kexecToolsSegments(titlePrefix: string): { entry: bigint; flags: bigint; segments: { mem: bigint; memsz: bigint; bufsz: bigint }[] } {
  const text = probeSection(titlePrefix);
  const head = /kexec_load: entry = (0x[0-9a-f]+) flags = (0x[0-9a-f]+)/.exec(text);
  if (!head) throw new Error(`no kexec_load line in "${titlePrefix}"`);
  const segs = new Map<number, { mem: bigint; memsz: bigint; bufsz: bigint }>();
  for (const m of text.matchAll(/segment\[(\d+)\]\.(bufsz|mem|memsz)\s*= (0x[0-9a-f]+)/g)) {
    const s = segs.get(Number(m[1])) ?? { mem: 0n, memsz: 0n, bufsz: 0n };
    s[m[2] as 'bufsz' | 'mem' | 'memsz'] = BigInt(m[3]!);
    segs.set(Number(m[1]), s);
  }
  return { entry: BigInt(head[1]!), flags: BigInt(head[2]!), segments: [...segs.values()] };
}

/** The purgatory object: dist/purgatory-arm64.o when built, else assembled now with llvm-mc; undefined without either. */
export function arm64PurgatoryObject(): Uint8Array | undefined {
  const built = new URL('../dist/purgatory-arm64.o', import.meta.url);
  if (existsSync(built)) return new Uint8Array(readFileSync(built));
  const dir = mkdtempSync(join(tmpdir(), 'arm64-purg-'));
  const r = spawnSync('llvm-mc', ['-triple=aarch64-linux-gnu', '-filetype=obj', '-o', join(dir, 'p.o'), new URL('../purgatory/arm64/purgatory.S', import.meta.url).pathname]);
  return r.status === 0 ? new Uint8Array(readFileSync(join(dir, 'p.o'))) : undefined;
}

/** The recorded Image: its real first 4 KiB, zeros up to the real file size. */
export function recordedImage(): Uint8Array {
  const { head, size } = recordedImageHeader();
  const image = new Uint8Array(size);
  image.set(head);
  return image;
}
