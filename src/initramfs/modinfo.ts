// The .modinfo section of a kernel module (.ko, an ELF64 relocatable): NUL-separated "key=value"
// strings such as "depends=virtio,virtio_ring", "name=virtio_blk", "vermagic=6.1.0-50-cloud-amd64 ...".
// Pure: reads through a ByteSource (decompress .ko.xz first).
import { ParseError } from '../errors.ts';
import { BufferSource, type ByteSource } from '../io/source.ts';
import { openElf, sectionData } from '../format/elf.ts';

const MAX_MODINFO = 1 << 20;

/** key -> values (a key such as "alias" may repeat). */
export function readModinfo(src: ByteSource): Map<string, string[]> {
  const head = src.read(0, 6);
  if (head.length < 6 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46 || head[4] !== 2 || head[5] !== 1) {
    throw new ParseError('not a 64-bit little-endian ELF kernel module', { offset: 0, source: src.name, hint: 'decompress .ko.xz/.ko.zst first' });
  }
  const s = openElf(src).section('.modinfo');
  if (!s) throw new ParseError('no .modinfo section: not a kernel module', { source: src.name });
  if (s.size > MAX_MODINFO) throw new ParseError(`.modinfo of ${s.size} bytes is implausible`, { offset: s.offset, source: src.name });
  const out = new Map<string, string[]>();
  for (const kv of new TextDecoder().decode(sectionData(src, s)).split('\0')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) continue;
    const k = kv.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), kv.slice(eq + 1)]);
  }
  return out;
}

/** The module names a module depends on (its "depends=" entry), '-' read as '_'. */
export function modinfoDepends(info: Map<string, string[]>): string[] {
  return (info.get('depends') ?? [])
    .flatMap((d) => d.split(','))
    .map((d) => d.trim().replace(/-/g, '_'))
    .filter(Boolean);
}

/** The firmware files a module may request (its "firmware=" entries), relative to a firmware directory. */
export function modinfoFirmware(info: Map<string, string[]>): string[] {
  const names = (info.get('firmware') ?? []).map((f) => f.trim());
  // A name is relative to the firmware directories: none that would leave them.
  return [...new Set(names.filter((f) => f && !f.startsWith('/') && !f.split('/').includes('..')))];
}

/** The firmware a module file (decompressed) declares. */
export function moduleFirmware(module: Uint8Array, name: string): string[] {
  return modinfoFirmware(readModinfo(new BufferSource(module, name)));
}

/**
 * Where the kernel looks for firmware NAME, in its order (drivers/base/firmware_loader: every
 * search directory uncompressed, then with ".zst", then ".xz"), as paths relative to "/".
 */
export function firmwareSearchPaths(name: string, release: string): string[] {
  const dirs = [`lib/firmware/updates/${release}`, 'lib/firmware/updates', `lib/firmware/${release}`, 'lib/firmware'];
  return ['', '.zst', '.xz'].flatMap((suffix) => dirs.map((d) => `${d}/${name}${suffix}`));
}
