// UKIs (Type #2 entries) and their Authenticode signatures, on real images: systemd's stub with
// sections placed by objcopy, signed by sbsign; objdump and sbverify are the oracles.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { KexecError, ParseError } from '../../src/errors.ts';
import { parseAuthenticode } from '../../src/format/authenticode.ts';
import { authenticodeRanges, parsePe, peSectionData } from '../../src/format/pe.ts';
import { parseEnvBlock, parseUki, ukiEntries, ukiLoad, ukiResources, ukiSource } from '../../src/boot/uki.ts';
import { parseBzImage } from '../../src/format/bzimage.ts';
import { authenticodeDigest, readCertificates, verifyAuthenticode, type Trust } from '../../src/host/authenticode-verify.ts';
import { mustVerify, readMachineTrust } from '../../src/host/secure-boot.ts';
import { hostImageTrust } from '../../src/host/image-trust.ts';
import { readBootMachine } from '../../src/host/boot-files.ts';
import { discoverBoot } from '../../src/boot/discover.ts';
import { bootListText } from '../../src/boot/list-text.ts';
import { cachedKernel, findUkify, UkiBuilder, ukiToolsMissing, type Keys } from './uki-fixture.ts';
import { rng } from '../format-fuzz-lib.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const skip = ukiToolsMissing() ?? false;
const ukify = skip ? undefined : findUkify();
const hasEfitools = spawnSync('sh', ['-c', 'command -v cert-to-efi-sig-list']).status === 0;
const OSREL = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n';
const UNAME = '6.12.117+deb13-cloud-amd64';
const CMDLINE = 'root=/dev/vda1 ro quiet';
const RESCUE = 'root=/dev/vda1 ro systemd.unit=rescue.target';

let b: UkiBuilder;
let kernel: string;
let initrd: Uint8Array;
let keyA: Keys;
let keyB: Keys;
/** Signed with key A: one profile; multi-profile (@0 regular, @1 rescue with its own .cmdline). */
let single: string;
let multi: string;
let unsigned: string;
let addonA: string;
let globalAddon: string;
let addonB: string;
let addonWithLinux: string;

before(() => {
  if (skip) return;
  b = new UkiBuilder();
  kernel = cachedKernel() ?? b.path('fake-kernel');
  if (!cachedKernel()) writeFileSync(kernel, new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff));
  initrd = new Uint8Array(5000).map((_, i) => (i * 13 + 1) & 0xff);
  keyA = b.key('db');
  keyB = b.key('other');
  const base = [
    { name: '.osrel', text: OSREL },
    { name: '.cmdline', text: CMDLINE },
    { name: '.uname', text: UNAME },
    { name: '.initrd', bytes: initrd },
    { name: '.linux', file: kernel },
  ];
  unsigned = b.pe(b.path('single.unsigned.efi'), base);
  single = b.sign(unsigned, keyA, b.path('single.efi'));
  const multiUnsigned = b.pe(b.path('multi.unsigned.efi'), [
    ...base,
    { name: '.profile', text: 'ID=regular\nTITLE="Regular boot"\n' },
    { name: '.profile', text: 'ID=rescue\nTITLE="Rescue shell"\n' },
    { name: '.cmdline', text: RESCUE },
  ]);
  multi = b.sign(multiUnsigned, keyA, b.path('multi.efi'));
  addonA = b.sign(b.pe(b.path('debug.unsigned.addon.efi'), [{ name: '.cmdline', text: 'debug loglevel=7\n' }]), keyA, b.path('debug.addon.efi'));
  globalAddon = b.sign(b.pe(b.path('global.unsigned.addon.efi'), [{ name: '.cmdline', text: 'console=ttyS0' }]), keyA, b.path('global.addon.efi'));
  addonB = b.sign(b.pe(b.path('other.unsigned.addon.efi'), [{ name: '.cmdline', text: 'init=/bin/sh' }]), keyB, b.path('other.addon.efi'));
  addonWithLinux = b.sign(b.pe(b.path('linux.unsigned.addon.efi'), [{ name: '.cmdline', text: 'x' }, { name: '.linux', bytes: new Uint8Array(64) }]), keyA, b.path('linux.addon.efi'));
});
after(() => b && rmSync(b.dir, { recursive: true, force: true }));

const read = (p: string) => new Uint8Array(readFileSync(p));
const certs = (k: Keys): Trust => ({ anchors: readCertificates(read(k.cert), k.cert) });
/** A copy of `file` with one byte flipped at `offset`. */
function tampered(file: string, offset: number, name: string): string {
  const out = b.path(name);
  const bytes = read(file);
  bytes[offset]! ^= 0x01;
  writeFileSync(out, bytes);
  return out;
}
const sectionOf = (file: string, name: string, nth = 0) => parsePe(read(file)).sections.filter((s) => s.name === name)[nth]!;

test('pe: the section table of a real UKI is what objdump -h reads (names, sizes, file offsets)', { skip }, () => {
  const pe = parsePe(read(multi), multi);
  assert.equal(pe.machine, 0x8664);
  assert.equal(pe.magic, 0x20b);
  assert.equal(pe.subsystem, 10, 'EFI application');
  const ours = pe.sections.map((s) => [s.name, s.virtualSize, s.pointerToRawData]);
  assert.deepEqual(ours, UkiBuilder.objdumpSections(multi));
  assert.ok(pe.certificateTable && pe.certificateTable.offset + pe.certificateTable.size === pe.fileSize, 'sbsign appends the certificate table at the end');
  assert.equal(new TextDecoder().decode(peSectionData(read(multi), sectionOf(multi, '.uname'))), UNAME);
});

test('pe: damaged headers are ParseErrors that name the offset (no MZ, e_lfanew past the end, truncated section)', { skip }, () => {
  const bytes = read(unsigned);
  const cases: [Uint8Array, number, RegExp][] = [
    [bytes.slice(0, 40), 0, /shorter than a DOS header/],
    [Object.assign(bytes.slice(0, 4096), { 0: 0x4e }), 0, /no "MZ"/],
    [(() => { const c = bytes.slice(0, 4096); new DataView(c.buffer).setUint32(0x3c, 0x100000, true); return c; })(), 0x3c, /e_lfanew 0x100000 points past the end/],
    [bytes.slice(0, sectionOf(unsigned, '.initrd').pointerToRawData + 10), -1, /section \d+ \(\.initrd\): raw data .* lies outside/],
  ];
  for (const [input, offset, re] of cases) {
    assert.throws(() => parsePe(input, 'x.efi'), (e: unknown) => e instanceof ParseError && re.test(e.message) && (offset < 0 || e.offset === offset) && e.offset !== undefined);
  }
});

test('uki: sections found; .linux and .initrd are the kernel and initrd files, byte for byte; .osrel gives the title, .uname the version', { skip }, () => {
  const bytes = read(single);
  const uki = parseUki(bytes, single);
  assert.deepEqual(uki.profiles, []);
  const r = ukiResources(uki, bytes, single, undefined);
  const slice = (x: { offset: number; length: number }) => bytes.subarray(x.offset, x.offset + x.length);
  assert.deepEqual(slice(r.linux), read(kernel));
  assert.equal(r.initrds.length, 1);
  assert.deepEqual(slice(r.initrds[0]!), initrd);
  assert.equal(r.cmdline, CMDLINE);
  assert.equal(r.uname, UNAME);
  assert.equal(r.osRelease.PRETTY_NAME, 'Debian GNU/Linux 13 (trixie)');
  const { entries } = ukiEntries([{ path: '/efi/EFI/Linux/debian+3-1.efi', bytes, addons: [] }], { arch: 'x64', requireVerified: false });
  assert.deepEqual(
    entries.map((e) => [e.id, e.title, e.version, e.sortKey, e.kernel, e.cmdline, e.bootCounting]),
    [['debian.efi', 'Debian GNU/Linux 13 (trixie)', UNAME, 'debian', '/efi/EFI/Linux/debian+3-1.efi', CMDLINE, { left: 3, done: 1, bad: false }]],
    'the id without the boot counter, as systemd-boot names it',
  );
});

test('uki: multi-profile: .profile splits base and @0/@1; @1 overrides the base .cmdline, @0 keeps it; one entry per profile, named NAME.efi@ID as systemd-boot names them', { skip }, () => {
  const bytes = read(multi);
  const uki = parseUki(bytes, multi);
  assert.deepEqual(uki.profiles.map((p) => [p.index, p.id, p.title, p.sections.map((s) => s.name)]), [
    [0, 'regular', 'Regular boot', []],
    [1, 'rescue', 'Rescue shell', ['.cmdline']],
  ]);
  assert.equal(ukiResources(uki, bytes, multi, 0).cmdline, CMDLINE);
  assert.equal(ukiResources(uki, bytes, multi, 1).cmdline, RESCUE);
  assert.deepEqual(ukiResources(uki, bytes, multi, 1).linux, ukiResources(uki, bytes, multi, 0).linux, 'the kernel comes from the base');
  const { entries } = ukiEntries([{ path: '/efi/EFI/Linux/m.efi', bytes, addons: [] }], { arch: 'x64', requireVerified: false });
  assert.deepEqual(entries.map((e) => [e.id, e.title, e.cmdline]), [
    ['m.efi@regular', 'Debian GNU/Linux 13 (trixie) (Regular boot)', CMDLINE],
    ['m.efi@rescue', 'Debian GNU/Linux 13 (trixie) (Rescue shell)', RESCUE],
  ]);
});

test('uki: a section twice in one profile is refused with its offset (the specification allows each once per profile)', { skip }, () => {
  const twice = b.pe(b.path('twice.efi'), [{ name: '.osrel', text: OSREL }, { name: '.cmdline', text: 'a' }, { name: '.cmdline', text: 'b' }, { name: '.linux', bytes: new Uint8Array(64) }]);
  assert.throws(() => parseUki(read(twice), twice), (e: unknown) => e instanceof ParseError && /\.cmdline appears twice in the base profile/.test(e.message) && e.offset !== undefined);
});

test('uki add-ons: .ucode prefixed in reverse add-on order before the UKI\'s .ucode/.initrd, .initrd appended, .dtb after the UKI\'s, .cmdline appended (UKI specification, PE Addons)', { skip }, () => {
  const bytesOf = (n: number, len = 64) => new Uint8Array(len).fill(n);
  const uki = b.pe(b.path('ucode-uki.efi'), [
    { name: '.osrel', text: OSREL },
    { name: '.cmdline', text: 'base' },
    { name: '.ucode', bytes: bytesOf(1) },
    { name: '.initrd', bytes: bytesOf(2) },
    { name: '.dtb', bytes: bytesOf(3) },
    { name: '.linux', bytes: bytesOf(4, 4096) },
  ]);
  const a1 = b.pe(b.path('a1.addon.efi'), [{ name: '.ucode', bytes: bytesOf(11) }, { name: '.initrd', bytes: bytesOf(12) }, { name: '.dtb', bytes: bytesOf(13) }, { name: '.cmdline', text: 'one' }]);
  const a2 = b.pe(b.path('a2.addon.efi'), [{ name: '.ucode', bytes: bytesOf(21) }, { name: '.initrd', bytes: bytesOf(22) }]);
  const files = new Map([[uki, read(uki)], [a1, read(a1)], [a2, read(a2)]]);
  const { entries } = ukiEntries([{ path: uki, bytes: files.get(uki)!, addons: [{ path: a2, bytes: files.get(a2)!, global: false }, { path: a1, bytes: files.get(a1)!, global: false }] }], { arch: 'x64', requireVerified: false });
  const u = entries[0]!.uki!;
  const first = (r: { file: string; offset: number }) => files.get(r.file)![r.offset];
  assert.deepEqual(u.initrds.map(first), [21, 11, 1, 2, 12, 22]);
  assert.deepEqual(u.dtbs.map(first), [3, 13]);
  assert.equal(entries[0]!.cmdline, 'base one');
  assert.deepEqual(u.addons, [a1, a2], 'applied in file-name order');
});

test('os-release: quoted values, escapes and comments as os-release(5) writes them', () => {
  assert.deepEqual(parseEnvBlock('# c\nNAME="A \\"B\\""\nID=x\nVERSION=\'1 2\'\nbad line\n'), { NAME: 'A "B"', ID: 'x', VERSION: '1 2' });
});

test('authenticode: our verdict equals sbverify --cert on signed, unsigned, other-key and tampered images', { skip }, () => {
  const cmdline = sectionOf(single, '.cmdline');
  const initrdSec = sectionOf(single, '.initrd');
  const pe = parsePe(read(single));
  const cases: [string, string, string][] = [
    // file, cert, expected status
    [single, keyA.cert, 'verified'],
    [single, keyB.cert, 'mismatch'],
    [unsigned, keyA.cert, 'unsigned'],
    [tampered(single, cmdline.pointerToRawData, 'cmdline-tampered.efi'), keyA.cert, 'mismatch'],
    [tampered(single, initrdSec.pointerToRawData + 100, 'initrd-tampered.efi'), keyA.cert, 'mismatch'],
    [tampered(single, pe.certificateTable!.offset + pe.certificateTable!.size - 20, 'sig-tampered.efi'), keyA.cert, 'mismatch'],
    [multi, keyA.cert, 'verified'],
  ];
  for (const [file, cert, expected] of cases) {
    const bytes = read(file);
    const v = verifyAuthenticode(bytes, parsePe(bytes, file), { anchors: readCertificates(read(cert)) }, file);
    assert.equal(v.status, expected, `${file} against ${cert}: ${JSON.stringify(v)}`);
    assert.equal(v.status === 'verified', UkiBuilder.sbverify(file, cert), `sbverify disagrees on ${file} against ${cert}`);
  }
});

test('authenticode: ECDSA P-256 signatures and a chain root -> intermediate (in the signature) -> signer verify as sbverify says', { skip }, () => {
  const ec = b.key('ec', { ec: true });
  const root = b.key('root-ca', { ca: true });
  const inter = b.issued('intermediate-ca', root, { ca: true });
  const leaf = b.issued('leaf', inter);
  const ecSigned = b.sign(unsigned, ec, b.path('ec.efi'));
  const chained = b.sign(unsigned, leaf, b.path('chained.efi'), inter.cert);
  const cases: [string, Keys, string][] = [
    [ecSigned, ec, 'verified'],
    [ecSigned, keyA, 'mismatch'],
    [chained, root, 'verified'],
    [chained, inter, 'verified'],
    [chained, leaf, 'verified'],
  ];
  for (const [file, anchor, expected] of cases) {
    const bytes = read(file);
    const v = verifyAuthenticode(bytes, parsePe(bytes, file), certs(anchor), file);
    assert.equal(v.status, expected, `${file} against ${anchor.cert}: ${JSON.stringify(v)}`);
    assert.equal(v.status === 'verified', UkiBuilder.sbverify(file, anchor.cert), `sbverify disagrees on ${file} against ${anchor.cert}`);
  }
  assert.deepEqual(verifyAuthenticode(read(chained), parsePe(read(chained)), certs(root)), { status: 'verified', signer: 'CN=kexec-ts test leaf', anchor: 'CN=kexec-ts test root-ca' });
});

test('authenticode: a chain that ends in an intermediate whose issuer is missing does not verify against an unrelated certificate (openssl verify agrees)', { skip }, () => {
  // sbverify 0.9.4 says "Signature verification OK" here whatever --cert names: its verify callback
  // lets OpenSSL's "unable to get local issuer certificate" through. `openssl verify` refuses the
  // same chain with error 20, and so do we.
  const root = b.key('root2-ca', { ca: true });
  const inter = b.issued('intermediate2-ca', root, { ca: true });
  const leaf = b.issued('leaf2', inter);
  const chained = b.sign(unsigned, leaf, b.path('chained2.efi'), inter.cert);
  const v = verifyAuthenticode(read(chained), parsePe(read(chained)), certs(keyA), chained);
  assert.deepEqual(v, { status: 'mismatch', reason: 'signed by CN=kexec-ts test leaf2, which does not chain to a trusted certificate (CN=kexec-ts test db)' });
  const openssl = spawnSync('openssl', ['verify', '-CAfile', keyA.cert, '-untrusted', inter.cert, leaf.cert], { encoding: 'utf8' });
  assert.notEqual(openssl.status, 0, openssl.stdout + openssl.stderr);
  assert.match(openssl.stdout + openssl.stderr, /error 20 at 1 depth lookup: unable to get local issuer certificate/);
});

test('authenticode: a one-byte change of .cmdline turns a verified UKI into "mismatch" naming the digest', { skip }, () => {
  const t = tampered(single, sectionOf(single, '.cmdline').pointerToRawData, 'cmdline-1.efi');
  const bytes = read(t);
  const v = verifyAuthenticode(bytes, parsePe(bytes), certs(keyA), t);
  assert.equal(v.status, 'mismatch');
  assert.match(v.status === 'mismatch' ? v.reason : '', /sha256 digest .* differs from the signed one .*changed after it was signed/);
  assert.equal(UkiBuilder.sbverify(t, keyA.cert), false);
});

test('authenticode: the signature names sha256, the signer certificate and the messageDigest; the hash leaves out checksum, cert directory and cert table', { skip }, () => {
  const bytes = read(single);
  const pe = parsePe(bytes);
  const [sig, ...more] = parseAuthenticode(bytes, pe, single);
  assert.equal(more.length, 0);
  assert.equal(sig!.digestAlgorithm, 'sha256');
  assert.equal(sig!.signedImageDigest.length, 32);
  assert.ok(sig!.messageDigest && sig!.signer, 'authenticated attributes and the signer certificate are there');
  const ranges = authenticodeRanges(pe);
  const hashed = ranges.reduce((n, [a, z]) => n + z - a, 0);
  assert.equal(hashed, pe.certificateTable!.offset - 4 - 8, 'every byte before the certificate table but the checksum and the directory entry');
  // The checksum field is outside the hash: changing it keeps the signature valid (sbverify agrees).
  const t = tampered(single, pe.checksumOffset, 'checksum-changed.efi');
  assert.equal(verifyAuthenticode(read(t), parsePe(read(t)), certs(keyA)).status, 'verified');
  assert.equal(UkiBuilder.sbverify(t, keyA.cert), true);
});

test('authenticode: 120 one-byte changes inside the signature (DER structure, certificate, attributes, signature value): each verdict equals sbverify --cert', { skip }, () => {
  // An exhaustive run of this (every byte of the signature, xor 0x01 and xor 0x80: 3104 files)
  // agreed on all of them; the test keeps a spread sample to stay fast.
  const bytes = read(addonA);
  const { offset, size } = parsePe(bytes).certificateTable!;
  const anchors = certs(keyA);
  const f = b.path('flip.efi');
  let verified = 0;
  for (let i = 0; i < 120; i++) {
    const at = offset + 8 + Math.floor(((i * 0.6180339887) % 1) * (size - 8));
    const t = bytes.slice();
    t[at] ^= i % 2 ? 0x80 : 0x01;
    const v = verifyAuthenticode(t, parsePe(t), anchors, `flip@${at}`);
    writeFileSync(f, t);
    assert.equal(v.status === 'verified', UkiBuilder.sbverify(f, keyA.cert), `byte 0x${(at - offset - 8).toString(16)} of the signature: ours ${JSON.stringify(v)}`);
    if (v.status === 'verified') verified++;
  }
  assert.ok(verified < 40, `most changes must break the signature (${verified} of 120 still verify: unsigned fields)`);
});

test('secure boot: db, MokListRT and dbx from efivarfs / mok-variables (made by efitools); sig-list-to-certs reads the same certificates; dbx revokes by image digest and by certificate', { skip: skip || (!hasEfitools && 'efitools (cert-to-efi-sig-list) not installed') }, () => {
  const root = b.mkdir('sb-root');
  const efivars = b.mkdir('sb-root/sys/firmware/efi/efivars');
  const mok = b.mkdir('sb-root/sys/firmware/efi/mok-variables');
  b.mkdir('sb-root/sys/kernel/security');
  writeFileSync(`${root}/sys/kernel/security/lockdown`, 'none [integrity] confidentiality\n');
  const attrs = new Uint8Array([0x07, 0, 0, 0]); // NV | BS | RT, as efivarfs prefixes them
  const efivar = (name: string, data: Uint8Array) => writeFileSync(`${efivars}/${name}`, Buffer.concat([attrs, data]));
  const esl = (cert: string, name: string) => {
    execFileSync('cert-to-efi-sig-list', ['-g', '11111111-2222-3333-4444-555555555555', cert, b.path(name)], { stdio: 'ignore' });
    return read(b.path(name));
  };
  efivar('SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c', new Uint8Array([1]));
  efivar('db-d719b2cb-3d3a-4596-a3bc-dad00e67656f', esl(keyB.cert, 'db.esl'));
  writeFileSync(`${mok}/MokListRT`, esl(keyA.cert, 'mok.esl')); // shim's key: the UKIs are signed with it
  // The oracle reads the same lists: sig-list-to-certs writes each X.509 entry as DER.
  execFileSync('sig-list-to-certs', [b.path('mok.esl'), b.path('mok-out')], { stdio: 'ignore' });
  let trust = readMachineTrust(root);
  assert.deepEqual([trust.secureBoot, trust.lockdown, mustVerify(trust)], [true, 'integrity', true]);
  assert.deepEqual(trust.sources, ['db: 1 certificates, 0 sha256 digests', 'MokListRT: 1 certificates, 0 sha256 digests']);
  assert.deepEqual(trust.anchors.map((c) => c.raw), [readCertificates(read(keyB.cert))[0]!.raw, read(b.path('mok-out-0.der'))].map((x) => Buffer.from(x)));
  const verdict = (file: string) => verifyAuthenticode(read(file), parsePe(read(file)), readMachineTrust(root), file);
  assert.deepEqual(verdict(single), { status: 'verified', signer: 'CN=kexec-ts test db', anchor: 'CN=kexec-ts test db' });

  // dbx with the image's digest as efitools computes it (hash-to-efi-sig-list: its own Authenticode hash).
  execFileSync('hash-to-efi-sig-list', [single, b.path('dbx.esl')], { stdio: 'ignore' });
  efivar('dbx-d719b2cb-3d3a-4596-a3bc-dad00e67656f', read(b.path('dbx.esl')));
  trust = readMachineTrust(root);
  const digest = Buffer.from(trust.forbiddenDigests![0]!).toString('hex');
  assert.equal(digest, Buffer.from(authenticodeDigest(read(single), parsePe(read(single)))).toString('hex'), 'our image digest equals efitools\'');
  assert.deepEqual(verdict(single), { status: 'mismatch', reason: `the image's sha256 digest ${digest} is revoked (dbx)` });
  assert.equal(verdict(multi).status, 'verified', 'another image signed by the same key is not revoked');

  // dbx with the signing certificate (MokListXRT): every image it signed is refused.
  writeFileSync(`${mok}/MokListXRT`, esl(keyA.cert, 'mokx.esl'));
  assert.deepEqual(verdict(multi), { status: 'mismatch', reason: 'the chain goes through CN=kexec-ts test db, a revoked certificate (dbx)' });
  // An image whose digest is in db boots without a signature, as UEFI allows (efitools hashes an
  // unsigned image padded to 8 bytes, the firmware as it is: both count).
  const other = b.path('multi.unsigned.efi');
  assert.equal(verdict(other).status, 'unsigned');
  execFileSync('hash-to-efi-sig-list', [other, b.path('db-hash.esl')], { stdio: 'ignore' });
  efivar('db-d719b2cb-3d3a-4596-a3bc-dad00e67656f', Buffer.concat([esl(keyB.cert, 'db2.esl'), read(b.path('db-hash.esl'))]));
  assert.equal(verdict(other).status, 'verified');
  assert.equal(verdict(unsigned).status, 'mismatch', "the unsigned image's digest is the signed one's, which dbx revokes");
});

test('secure boot: a damaged signature database is reported, not trusted, and the rest still read', { skip }, () => {
  const root = b.mkdir('sb-damaged');
  b.mkdir('sb-damaged/sys/firmware/efi/efivars');
  writeFileSync(`${root}/sys/firmware/efi/efivars/db-d719b2cb-3d3a-4596-a3bc-dad00e67656f`, new Uint8Array([7, 0, 0, 0, 1, 2, 3]));
  writeFileSync(`${root}/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c`, new Uint8Array([6, 0, 0, 0, 0]));
  const t = readMachineTrust(root);
  assert.deepEqual([t.secureBoot, t.lockdown, mustVerify(t), t.anchors.length], [false, undefined, false, 0]);
  assert.deepEqual(t.problems, ['db: 3 bytes left at offset 0, less than an EFI_SIGNATURE_LIST header']);
});

test('pe/uki/authenticode: 400 seeded mutations of a signed add-on\'s headers and signature fail only as ParseError (readers) or a verdict (the check), never another error', { skip }, () => {
  const base = read(addonA);
  const pe = parsePe(base);
  const r = rng(20261205);
  const trust = certs(keyA);
  const hot = [0, pe.sizeOfHeaders, pe.certificateTable!.offset, pe.fileSize];
  let parsed = 0;
  for (let i = 0; i < 400; i++) {
    const t = base.slice(0, r() < 0.1 ? Math.floor(r() * base.length) : base.length);
    for (let k = 1 + Math.floor(r() * 4); k > 0; k--) {
      const region = Math.floor(r() * 2) * 2; // headers or signature
      const at = hot[region]! + Math.floor(r() * (hot[region + 1]! - hot[region]!));
      if (at < t.length) t[at] = r() < 0.5 ? Math.floor(r() * 256) : [0, 0xff, 0x7f, 0x80][Math.floor(r() * 4)]!;
    }
    for (const f of [() => parsePe(t), () => parseUki(t), () => parseAuthenticode(t, parsePe(t))]) {
      try {
        f();
        parsed++;
      } catch (e) {
        assert.ok(e instanceof ParseError, `mutation ${i}: ${(e as Error).stack}`);
        assert.ok(e.message.length < 400 && !e.message.includes('\n'), e.message);
      }
    }
    let pt;
    try {
      pt = parsePe(t);
    } catch {
      continue;
    }
    const v = verifyAuthenticode(t, pt, trust, `mutation ${i}`);
    assert.ok(['verified', 'unsigned', 'mismatch'].includes(v.status));
  }
  assert.ok(parsed > 100, `mutations mostly still parse far enough to exercise the later checks (${parsed})`);
});

test('uki entry source: $ESP/EFI/Linux with add-ons: global then per-UKI .cmdline appended; rejected: not a UKI, wrong architecture, bad signature, add-on with .linux or another key', { skip }, () => {
  const esp = b.mkdir('root/efi');
  b.mkdir('root/efi/EFI/Linux/debian.efi.extra.d');
  b.mkdir('root/efi/loader/addons');
  copyFileSync(single, `${esp}/EFI/Linux/debian.efi`);
  copyFileSync(multi, `${esp}/EFI/Linux/multi.efi`);
  copyFileSync(globalAddon, `${esp}/loader/addons/00-console.addon.efi`);
  copyFileSync(addonA, `${esp}/EFI/Linux/debian.efi.extra.d/10-debug.addon.efi`);
  copyFileSync(addonB, `${esp}/EFI/Linux/debian.efi.extra.d/20-other.addon.efi`);
  copyFileSync(addonWithLinux, `${esp}/EFI/Linux/debian.efi.extra.d/30-linux.addon.efi`);
  copyFileSync(addonA, `${esp}/EFI/Linux/stub-only.efi`); // a PE without .linux
  writeFileSync(`${esp}/EFI/Linux/notes.efi`, 'not a PE file');
  const arm = read(single);
  new DataView(arm.buffer).setUint16(parsePe(arm).checksumOffset - 64 - 20, 0xaa64, true); // COFF Machine
  writeFileSync(`${esp}/EFI/Linux/arm64.efi`, arm);
  writeFileSync(`${esp}/EFI/Linux/tampered.efi`, read(tampered(single, sectionOf(single, '.cmdline').pointerToRawData, 'tampered-esp.efi')));
  const root = b.path('root');
  const machine = { ...readBootMachine({ root }), arch: 'x64' };
  assert.equal(machine.esp, '/efi');

  const trust = hostImageTrust(root, [keyA.cert])!;
  assert.equal(trust.required, true, 'a certificate given: only verified UKIs');
  const strict = ukiSource(trust).discover(machine);
  const debian = strict.entries.find((e) => e.id === 'debian.efi')!;
  assert.equal(debian.cmdline, `${CMDLINE} console=ttyS0 debug loglevel=7`);
  assert.deepEqual(debian.uki!.addons, ['/efi/loader/addons/00-console.addon.efi', '/efi/EFI/Linux/debian.efi.extra.d/10-debug.addon.efi']);
  assert.equal(debian.uki!.signature?.status, 'verified');
  assert.deepEqual(strict.entries.map((e) => e.id), ['debian.efi', 'multi.efi@regular', 'multi.efi@rescue']);
  const reasons = Object.fromEntries(strict.rejected.map((r) => [r.origin.replace('/efi/EFI/Linux/', ''), r.reason]));
  assert.match(reasons['arm64.efi']!, /^wrong architecture: built for aa64 \(PE machine 0xaa64\), this machine is x64/);
  assert.match(reasons['notes.efi']!, /^not a PE\/COFF executable: 13 bytes is shorter than a DOS header/);
  assert.match(reasons['stub-only.efi']!, /^not a UKI: no \.linux section/);
  assert.match(reasons['tampered.efi']!, /^signature: mismatch: the image's sha256 digest/);
  assert.match(reasons['debian.efi.extra.d/20-other.addon.efi']!, /^add-on signature: mismatch: signed by CN=kexec-ts test other, which does not chain/);
  assert.match(reasons['debian.efi.extra.d/30-linux.addon.efi']!, /has a \.linux section: a UKI, not an add-on/);
  assert.match(strict.notes.join('\n'), /UKI signatures checked against --cert .*db\.crt \(required/);

  // Without Secure Boot / a certificate, unsigned and foreign-signed add-ons apply, as systemd-stub does.
  assert.equal(hostImageTrust(root), undefined, 'no certificate, no Secure Boot databases: nothing to check');
  const lax = ukiSource().discover(machine);
  assert.equal(lax.entries.find((e) => e.id === 'debian.efi')!.cmdline, `${CMDLINE} console=ttyS0 debug loglevel=7 init=/bin/sh`);
  assert.ok(lax.entries.some((e) => e.id === 'tampered.efi'), 'not checked: listed');
  assert.deepEqual(lax.notes, ['UKI signatures not checked: no certificate given and no Secure Boot databases']);

  // In the whole discovery: systemd-boot's menu of UKIs (no grub.cfg), the newest first, the default with its reason.
  const list = discoverBoot(machine, [ukiSource(trust)]);
  assert.equal(list.loader.name, 'systemd-boot');
  assert.ok(list.default && list.default.source === 'uki', list.defaultReason);
  const text = bootListText(list);
  assert.match(text, /signature +verified \(signed by CN=kexec-ts test db, trusted through CN=kexec-ts test db\)/);
  assert.match(text, /profile +@1 \(rescue\)/);
});

test('kexec-ts boot --list --cert: the UKI entries with profile and signature rows; a --cert that is not a file is one line, exit 2', { skip }, () => {
  const root = b.mkdir('cli-root');
  b.mkdir('cli-root/efi/EFI/Linux');
  copyFileSync(multi, `${root}/efi/EFI/Linux/debian.efi`);
  const run = (...args: string[]) => spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kexec-ts.ts', 'boot', '--list', '--root', root, ...args], { encoding: 'utf8' });
  const ok = run('--cert', keyA.cert);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^boot loader: systemd-boot /);
  // systemd-boot orders a UKI's profiles by number: @0 first, and the default.
  assert.match(ok.stdout, /\* {2}1 {2}Debian GNU\/Linux 13 \(trixie\) \(Regular boot\)\n {6}id {8}debian\.efi@regular\n/);
  assert.match(ok.stdout, /\n {3}2 {2}Debian GNU\/Linux 13 \(trixie\) \(Rescue shell\)\n {6}id {8}debian\.efi@rescue\n/);
  assert.match(ok.stdout, /\n {6}signature verified \(signed by CN=kexec-ts test db, trusted through CN=kexec-ts test db\)\n/);
  const other = run('--cert', keyB.cert);
  assert.match(other.stdout, /rejected \(1\):\n {2}debian\.efi\n.*\n {6}why {7}signature: mismatch: signed by CN=kexec-ts test db, which does not chain to a trusted certificate \(CN=kexec-ts test other\)/);
  const bad = run('--cert', '/nonexistent.crt');
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'kexec-ts: --cert /nonexistent.crt: not a file\n');
});

test('ukify (systemd 257): a multi-profile UKI joined from profile add-ons and signed by ukify: profiles @main/@regular/@rescue, overrides, add-on stub, verdicts as sbverify, .cmdline tamper refused', { skip: skip || (typeof ukify === 'string' && ukify) }, () => {
  const u = ukify as Exclude<typeof ukify, string | undefined>;
  const osrel = b.path('ukify-osrel');
  writeFileSync(osrel, OSREL);
  const p1 = b.path('ukify-p1.efi');
  const p2 = b.path('ukify-p2.efi');
  u.run(['build', '--stub', u.addonStub, '--profile', 'ID=regular\nTITLE=Regular boot', '--output', p1]);
  u.run(['build', '--stub', u.addonStub, '--profile', 'ID=rescue\nTITLE=Rescue shell', '--cmdline', RESCUE, '--output', p2]);
  const initrdFile = b.path('ukify-initrd');
  writeFileSync(initrdFile, initrd);
  const uki = b.path('ukify.efi');
  u.run(['build', '--stub', u.linuxStub, '--linux', kernel, '--initrd', initrdFile, '--cmdline', CMDLINE, '--os-release', `@${osrel}`, '--uname', UNAME,
    '--join-profile', p1, '--join-profile', p2, '--signtool', 'sbsign', '--secureboot-private-key', keyA.key, '--secureboot-certificate', keyA.cert, '--output', uki]);
  const addon = b.path('ukify-debug.addon.efi');
  u.run(['build', '--stub', u.addonStub, '--cmdline', 'debug', '--signtool', 'sbsign', '--secureboot-private-key', keyA.key, '--secureboot-certificate', keyA.cert, '--output', addon]);

  const bytes = read(uki);
  assert.deepEqual(parsePe(bytes).sections.map((s) => [s.name, s.virtualSize, s.pointerToRawData]), UkiBuilder.objdumpSections(uki));
  const parsed = parseUki(bytes, uki);
  assert.deepEqual(parsed.profiles.map((p) => [p.index, p.id, p.title]), [[0, 'main', undefined], [1, 'regular', 'Regular boot'], [2, 'rescue', 'Rescue shell']], 'ukify adds ID=main as profile @0 when joining');
  const { entries, rejected } = ukiEntries([{ path: '/efi/EFI/Linux/debian.efi', bytes, addons: [{ path: '/efi/EFI/Linux/debian.efi.extra.d/debug.addon.efi', bytes: read(addon), global: false }] }], { arch: 'x64', requireVerified: false });
  assert.deepEqual(rejected, []);
  assert.deepEqual(entries.map((e) => [e.id, e.cmdline]), [
    ['debian.efi@main', `${CMDLINE} debug`],
    ['debian.efi@regular', `${CMDLINE} debug`],
    ['debian.efi@rescue', `${RESCUE} debug`],
  ]);
  const r = entries[0]!.uki!;
  assert.deepEqual(bytes.subarray(r.linux.offset, r.linux.offset + r.linux.length), read(kernel));
  assert.deepEqual(bytes.subarray(r.initrds[0]!.offset, r.initrds[0]!.offset + r.initrds[0]!.length), initrd);
  assert.equal(entries[0]!.version, UNAME);

  const t = tampered(uki, sectionOf(uki, '.cmdline').pointerToRawData, 'ukify-tampered.efi');
  for (const [file, cert, expected] of [[uki, keyA, 'verified'], [addon, keyA, 'verified'], [uki, keyB, 'mismatch'], [t, keyA, 'mismatch']] as const) {
    const v = verifyAuthenticode(read(file), parsePe(read(file)), certs(cert), file);
    assert.equal(v.status, expected, `${file}: ${JSON.stringify(v)}`);
    assert.equal(v.status === 'verified', UkiBuilder.sbverify(file, cert.cert), `sbverify disagrees on ${file}`);
  }
});

test('uki load: the kernel cut from .linux is the bzImage file (our bzImage parser reads it), the initrd the .initrd bytes; a file changed since the listing is re-checked and refused', { skip }, () => {
  const path = '/efi/EFI/Linux/debian.efi';
  const trust = hostImageTrust(b.path('no-root'), [keyA.cert])!;
  const { entries } = ukiEntries([{ path, bytes: read(single), signature: trust.verify(read(single), path), addons: [] }], { arch: 'x64', requireVerified: true });
  const entry = entries[0]!;
  const load = ukiLoad(entry, new Map([[path, read(single)]]), trust);
  assert.deepEqual(load.kernel, read(kernel));
  assert.deepEqual(load.initrd, initrd);
  assert.equal(load.cmdline, CMDLINE);
  if (cachedKernel()) assert.match(parseBzImage(load.kernel, '.linux').versionString ?? '', new RegExp(`^${UNAME.replace(/\+/g, '\\+')} `));
  // The listing verified the file; the bytes given to the load were changed afterwards (.cmdline): refused.
  const changed = read(tampered(single, sectionOf(single, '.cmdline').pointerToRawData, 'changed-after-listing.efi'));
  assert.throws(() => ukiLoad(entry, new Map([[path, changed]]), trust), (e: unknown) => e instanceof KexecError && /^\/efi\/EFI\/Linux\/debian\.efi: refused: signature mismatch: the image's sha256 digest/.test(e.message));
});
