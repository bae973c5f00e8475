// Benchmark (issue 14): saving a dump to each remote target against saving it locally, and against
// RHEL kdump's way (`makedumpfile -F -l -d 31 VMCORE | ssh HOST 'cat > FILE'`), in one run, the
// cases interleaved round by round, medians. Every case writes the same `-l -d 31` dump:
//   local file      vmcore-ts save -l -d 31 VMCORE FILE
//   local -F pipe   vmcore-ts save -F -l -d 31 VMCORE | cat > FILE
//   --to DIR        chunks + manifest into a directory (fsync per chunk)
//   --to ssh://     chunks + manifest to an OpenSSH server on 127.0.0.1 (test/sshd-server.ts)
//   makedumpfile | ssh   RHEL's: the flattened stream piped into ssh, `cat > FILE` on the far side
//   --to s3://      a multipart upload to radosgw on a one-node Ceph cluster (test/ceph-s3-server.ts,
//                   started here with --s3; or any endpoint: --s3-endpoint URL --s3-credentials FILE --s3-bucket B)
// Ratios are to "local file"; the goals: ssh and S3 within 1.3× of local, ssh ≤ 1.0× RHEL's pipe.
// Usage: node --import tsx bench/targets.ts [RAW_ELF_VMCORE] [--runs N] [--makedumpfile PATH] [--s3]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestSshd, sshdMissing } from '../test/sshd-server.ts';
import { CephS3Server, cephS3Unavailable } from '../test/ceph-s3-server.ts';

const argv = process.argv.slice(2).filter((a) => a !== '--s3');
const ceph = process.argv.includes('--s3') ? new CephS3Server() : undefined;
const opt = (f: string, d?: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const runs = Number(opt('--runs', '3'));
const vmcore = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1]!.startsWith('--'))) ?? join(process.env.KEXEC_TS_CACHE || join(homedir(), '.cache', 'kexec-ts'), 'vmcore', 'bookworm-qemu64.elf');
const makedumpfile = opt('--makedumpfile', ['/usr/sbin/makedumpfile', '/usr/bin/makedumpfile'].find((p) => existsSync(p)) ?? 'makedumpfile')!;
const CLI = 'dist/vmcore-ts.mjs';
if (!existsSync(vmcore)) throw new Error(`${vmcore}: no raw vmcore (the e2e kdump test caches one; or give a path)`);
if (sshdMissing) throw new Error(sshdMissing);
if (!existsSync(CLI)) spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });

const work = mkdtempSync(join(tmpdir(), 'bench-targets-'));
const sshd = new TestSshd();
const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** Runs a shell line under /usr/bin/time: wall and CPU seconds (the whole pipeline's children). */
function timed(line: string): { wall: number; cpu: number } {
  const tf = join(work, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%e %U %S', 'sh', '-c', line], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${line}: exit ${r.status}\n${r.stderr}`);
  const [wall, user, sys] = readFileSync(tf, 'utf8').trim().split(/\s+/).map(Number) as [number, number, number];
  return { wall, cpu: user + sys };
}

try {
  await sshd.start();
  const sshOpts = `-o BatchMode=yes -o IdentitiesOnly=yes -i ${q(sshd.clientKey)} -o UserKnownHostsFile=${q(sshd.knownHosts())} -p ${sshd.port}`;
  const remote = join(work, 'remote');
  let s3 = opt('--s3-endpoint') ? { endpoint: opt('--s3-endpoint')!, creds: opt('--s3-credentials')!, bucket: opt('--s3-bucket', 'dumps')! } : undefined;
  if (ceph) {
    const why = cephS3Unavailable();
    if (why) throw new Error(why);
    await ceph.start();
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: ceph.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: ceph.key.id, secretAccessKey: ceph.key.secret } });
    await client.send(new CreateBucketCommand({ Bucket: 'dumps' }));
    const creds = join(work, 'creds');
    writeFileSync(creds, `[default]\naws_access_key_id = ${ceph.key.id}\naws_secret_access_key = ${ceph.key.secret}\nregion = us-east-1\n`, { mode: 0o600 });
    s3 = { endpoint: ceph.endpoint, creds, bucket: 'dumps' };
  }
  const save = `${q(process.execPath)} ${CLI} save --message-level 0 -l -d 31`;
  const cases: [string, () => string][] = [
    ['local file', () => `${save} ${q(vmcore)} ${q(join(work, 'local.kdump'))}`],
    ['local -F, piped to a file', () => `${save} -F ${q(vmcore)} | cat > ${q(join(work, 'local.flat'))}`],
    ['--to DIR', () => `${save} --state-dir ${q(join(work, 'st-dir'))} --to ${q(join(work, 'dir'))} ${q(vmcore)}`],
    ['--to ssh://', () => `${save} --state-dir ${q(join(work, 'st-ssh'))} --ssh-key ${q(sshd.clientKey)} --known-hosts ${q(sshd.knownHosts())} --to ssh://${sshd.user}@127.0.0.1:${sshd.port}${remote} ${q(vmcore)}`],
    ...(existsSync(makedumpfile) ? ([['makedumpfile -F -l -d 31 | ssh (RHEL)', () => `${makedumpfile} -F -l -d 31 ${q(vmcore)} | ssh ${sshOpts} ${sshd.user}@127.0.0.1 ${q(`cat > ${join(work, 'rhel.flat')}`)}`]] as [string, () => string][]) : []),
    ...(s3 ? ([['--to s3://', () => `${save} --state-dir ${q(join(work, 'st-s3'))} --s3-endpoint ${q(s3.endpoint)} --s3-credentials ${q(s3.creds)} --to s3://${s3.bucket}/bench-${Date.now()} ${q(vmcore)}`]] as [string, () => string][]) : []),
  ];
  const clean = () => {
    for (const p of ['local.kdump', 'local.flat', 'dir', 'remote', 'rhel.flat', 'st-dir', 'st-ssh', 'st-s3']) rmSync(join(work, p), { recursive: true, force: true });
  };
  const results = new Map<string, { wall: number; cpu: number }[]>(cases.map(([n]) => [n, []]));
  const load0 = loadavg()[0]!.toFixed(2);
  for (let r = 0; r < runs; r++) {
    for (const [name, line] of cases) {
      clean(); // every run writes everything (no resume)
      results.get(name)!.push(timed(line()));
    }
  }
  const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
  clean();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = new Map([...results].map(([n, rs]) => [n, { wall: median(rs.map((x) => x.wall)), cpu: median(rs.map((x) => x.cpu)) }]));
  const local = med.get('local file')!;
  const rhel = med.get('makedumpfile -F -l -d 31 | ssh (RHEL)');
  console.log(`${vmcore} (${(size(vmcore) / 2 ** 20).toFixed(0)} MiB), -l -d 31, ${runs} runs interleaved, medians; load average ${load0} → ${loadavg()[0]!.toFixed(2)}`);
  console.log('| target | wall | CPU (all processes) | wall / local file | wall / RHEL pipe |');
  console.log('|---|---|---|---|---|');
  for (const [name, m] of med) {
    console.log(`| ${name} | ${m.wall.toFixed(2)} s | ${m.cpu.toFixed(2)} s | ${(m.wall / local.wall).toFixed(2)} | ${rhel ? (m.wall / rhel.wall).toFixed(2) : '—'} |`);
  }
} finally {
  await ceph?.stop();
  await sshd.dispose();
  rmSync(work, { recursive: true, force: true });
}
