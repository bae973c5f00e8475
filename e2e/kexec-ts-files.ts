// Files kexec-ts needs in a guest beyond what the harness's bundle carries.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BootParams } from '../src/format/bzimage.ts';
import { readStruct } from '../src/format/struct.ts';
import { cacheDir } from './harness/cache.ts';
import { REPO, type FileSpec } from './harness/initramfs.ts';
import { E2EStepError } from './harness/steps.ts';

/** koffi 3 keeps its prebuilt binary in an optional package; ship the linux x64 one with the bundle. */
export function koffiBinaryFiles(): Record<string, FileSpec> {
  const pkg = join(REPO, 'node_modules', '@koromix', 'koffi-linux-x64');
  const out: Record<string, FileSpec> = {};
  if (!existsSync(pkg)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        if (!e.startsWith('musl')) walk(p);
      } else out[`opt/kexec-ts/node_modules/@koromix/koffi-linux-x64/${relative(pkg, p)}`] = { host: p };
    }
  };
  walk(pkg);
  return out;
}


/** The tool that decompresses a bzImage payload, by its magic (Debian: lz4 up to bookworm, zstd since trixie). */
const PAYLOAD_TOOLS: [number[], string][] = [
  [[0x02, 0x21, 0x4c, 0x18], 'lz4'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
  [[0x1f, 0x8b], 'gzip'],
];

/**
 * The ELF vmlinux inside a bzImage (its compressed payload: vmlinux.bin, stripped, plus the
 * relocation table the decompressor appends), gzip'd, cached beside the other kernels:
 * what `kexec-ts -l vmlinux.gz` loads through the ELF loader. Decompressed with the system's tool.
 */
export function vmlinuxGzFromBzImage(bzImage: string, release: string): string {
  const out = join(cacheDir('vmlinux'), `${release}.gz`);
  if (existsSync(out)) return out;
  const bz = readFileSync(bzImage);
  const h = readStruct(BootParams, bz);
  // The payload's last 4 bytes are its decompressed size (the kernel build appends them); the tools want the stream alone.
  const start = ((h.setup_sects || 4) + 1) * 512 + h.payload_offset;
  const payload = bz.subarray(start, start + h.payload_length - 4);
  const tool = PAYLOAD_TOOLS.find(([m]) => m.every((b, i) => payload[i] === b))?.[1];
  if (!tool) throw new E2EStepError('unpack', `${bzImage}: unknown payload compression ${payload.subarray(0, 4).toString('hex')}`);
  const r = spawnSync(tool, ['-dc'], { input: payload, maxBuffer: 1 << 30 });
  if (r.status !== 0 || r.stdout.subarray(0, 4).toString('latin1') !== '\x7fELF') {
    throw new E2EStepError('unpack', `${tool} -dc of ${bzImage}'s payload gave no ELF vmlinux: ${r.error?.message ?? r.stderr.toString().trim()}`, `install ${tool} (scripts/install-test-deps.sh)`);
  }
  writeFileSync(`${out}.tmp`, gzipSync(r.stdout, { level: 6 }));
  renameSync(`${out}.tmp`, out);
  return out;
}
