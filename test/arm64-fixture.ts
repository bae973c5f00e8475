// Reads fixtures/arm64/guest-probe.txt (recorded by fixtures/arm64/record.sh): sections that start
// with "=== TITLE" lines.
import { readFileSync } from 'node:fs';
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
