// Puts systemd's ukify, its EFI stubs and python3-pefile from Debian trixie into the cache
// (~/.cache/kexec-ts/ukify), unpacked, for test/boot/uki.test.ts on hosts whose Debian has no
// systemd-ukify (bookworm). Run: node --import tsx scripts/fetch-ukify.ts   (needs the network once)
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cacheDir } from '../e2e/harness/cache.ts';
import { downloadSuiteDebs } from '../e2e/harness/kernels.ts';

const debs = await downloadSuiteDebs('trixie', ['systemd-ukify', 'systemd-boot-efi', 'python3-pefile'], (s) => console.log(s));
const dest = cacheDir('ukify');
const tmp = `${dest}.partial`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
for (const d of debs) execFileSync('dpkg-deb', ['-x', d, tmp]);
rmSync(join(dest, 'root'), { recursive: true, force: true });
renameSync(tmp, join(dest, 'root'));
console.log(`ukify unpacked in ${join(dest, 'root')}`);
