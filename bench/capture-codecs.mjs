// Per-page cost of each page compressor both dump tools use, called from Node through koffi as
// vmcore-ts calls them: liblzo2 lzo1x_1_compress (makedumpfile -l and vmcore-ts -l), the system
// zlib's compress2 level 1 (makedumpfile -c), libdeflate level 2 (vmcore-ts -c), Node's own zlib
// level 3 (vmcore-ts -c without the native libraries), and a koffi call that does no work (memchr
// of one byte: the FFI's own cost). bench/capture-speed.ts runs it in the capture kernel (TCG) and
// natively, to say which costs the emulation multiplies. Plain JavaScript, no build: it runs from
// the guest's /opt/kexec-ts/bench/ with the bundle's koffi.
//   node bench/capture-codecs.mjs [--pages N] [--input FILE]   (default 4096 pages of the node binary from 16 MiB)
// Prints one JSON line: { pages, input, usPerPage: { name: µs }, bytes: { name: total output } }.
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';

const argv = process.argv.slice(2);
const opt = (name, d) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : d);
const pages = Number(opt('--pages', '4096'));
const input = opt('--input', process.execPath);
const PAGE = 4096;

const data = Buffer.alloc(pages * PAGE);
const fd = openSync(input, 'r');
const got = readSync(fd, data, 0, data.length, 16 << 20);
closeSync(fd);
if (got < data.length) throw new Error(`${input}: only ${got} bytes from 16 MiB on`);
const page = (i) => data.subarray(i * PAGE, (i + 1) * PAGE);

const koffi = createRequire(import.meta.url)('koffi');
const lib = (name) => koffi.load(name, { deep: true });
const out = Buffer.alloc(PAGE * 2);

const tests = {};
const libc = lib('libc.so.6');
const memchr = libc.func('void *memchr(const void *s, int c, size_t n)');
tests['koffi call, no work (memchr 1 byte)'] = (p) => (memchr(p, 1, 1), 1);

const lzo = lib('liblzo2.so.2');
const lzoInit = lzo.func('int __lzo_init_v2(unsigned int v, int s1, int s2, int s3, int s4, int s5, int s6, int s7, int s8, int s9)');
if (lzoInit(0x20a0, 2, 4, 8, 4, 8, 8, 8, 8, 48) !== 0) throw new Error('lzo_init failed');
const lzoCompress = lzo.func('int lzo1x_1_compress(const void *src, unsigned long n, void *dst, void *dstLen, void *wrk)');
const wrk = new Uint8Array(16384 * 8);
const len = new BigUint64Array(1);
tests['liblzo2 lzo1x_1 (both -l)'] = (p) => (lzoCompress(p, PAGE, out, len, wrk), Number(len[0]));

const z = lib('libz.so.1');
const compress2 = z.func('int compress2(void *dest, void *destLen, const void *source, unsigned long sourceLen, int level)');
tests['zlib compress2 level 1 (makedumpfile -c)'] = (p) => {
  len[0] = BigInt(out.length);
  if (compress2(out, len, p, PAGE, 1) !== 0) throw new Error('compress2 failed');
  return Number(len[0]);
};

try {
  const d = lib('libdeflate.so.0');
  const alloc = d.func('void *libdeflate_alloc_compressor(int level)');
  const compress = d.func('size_t libdeflate_zlib_compress(void *c, const void *in, size_t n, void *out, size_t avail)');
  const c = alloc(2);
  tests['libdeflate level 2 (vmcore-ts -c)'] = (p) => Number(compress(c, p, PAGE, out, PAGE - 1)) || PAGE;
} catch (e) {
  process.stderr.write(`capture-codecs: no libdeflate: ${e.message}\n`);
}
tests["Node's zlib level 3 (vmcore-ts -c, built-in)"] = (p) => zlib.deflateSync(p, { level: 3 }).length;

const usPerPage = {};
const bytes = {};
for (const [name, f] of Object.entries(tests)) {
  for (let i = 0; i < Math.min(256, pages); i++) f(page(i)); // warm-up: the library's pages, V8's first tiers
  let total = 0;
  const t0 = performance.now();
  for (let i = 0; i < pages; i++) total += f(page(i));
  usPerPage[name] = Number((((performance.now() - t0) * 1000) / pages).toFixed(2));
  bytes[name] = total;
}
process.stdout.write(JSON.stringify({ pages, input, usPerPage, bytes }) + '\n');
