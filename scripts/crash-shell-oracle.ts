// Writes fixtures/x86_64-debian-6.1/oracle/crash-9.0.2-shell.txt: crash 9.0.2 (Debian sid root,
// test/packaging/debian-root.ts, cached) with the fixture kernel's debug vmlinux, running the
// commands `vmcore-ts shell` has, each preceded by a "=== COMMAND" line. The console tests
// (test/analyze/console.test.ts) compare our layout with it.
//   node --import tsx scripts/crash-shell-oracle.ts
import { writeFileSync } from 'node:fs';
import { getDebugVmlinux } from '../e2e/harness/kernels.ts';
import { crashSidOutputs } from '../e2e/harness/crash-tool.ts';

const DIR = 'fixtures/x86_64-debian-6.1';
const COMMANDS = [
  'sys', 'ps', 'ps -S', 'ps -k -H', 'ps -u', 'bt', 'bt -a', 'bt 2', 'mod', 'sym panic', 'sym ffffffff83ea8a06',
  'rd linux_banner 4', 'rd -8 linux_banner 20', 'rd -32 linux_banner 8', 'rd -a linux_banner', 'p runqueues', 'p jiffies',
  'foreach RU ps', 'kmem -i', 'struct task_struct.pid,comm ff278b50411f20c0', 'set 2', 'files 1', 'runq',
];

const vmlinux = await getDebugVmlinux('bookworm', '6.1.0-56-cloud-amd64');
const { text, paths } = crashSidOutputs(vmlinux, `${DIR}/vmcore-d31-zlib.kdump`, COMMANDS);
writeFileSync(`${DIR}/oracle/crash-9.0.2-shell.txt`, text.replaceAll(paths.vmlinux, 'vmlinux-6.1.0-56-cloud-amd64').replaceAll(paths.vmcore, 'vmcore-d31-zlib.kdump'));
console.log(`${text.split('\n').length} lines`);
