// Benchmark: `vmcore-ts shell DUMP` from process start to its prompt on a pseudo-terminal (issue 17's
// goal: under 0.3 s), then the first `sys` and `bt` (what the first commands cost: kallsyms, BTF and
// the task list are read on first use). The built bundle (dist/), medians of RUNS runs.
//   node bench/shell-start.mjs [DUMP] [RUNS]
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { FIXTURE } from './reference-tools.mjs';

const dump = process.argv[2] ?? FIXTURE;
const runs = Number(process.argv[3] ?? 11);
if (!existsSync('dist/vmcore-ts.mjs')) spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });

// Times (s) from spawn to the prompt, to the end of `sys`'s output, to the end of `bt`'s.
const PY = String.raw`
import json, os, pty, select, subprocess, sys, time
cmd = json.loads(sys.argv[1])
m, s = pty.openpty()
t0 = time.time()
p = subprocess.Popen(cmd, stdin=s, stdout=s, stderr=s, env={**os.environ, "VMCORE_TS_HISTORY": ""})
buf = b""
def until(text, start):
    global buf
    while text not in buf[start:]:
        if select.select([m], [], [], 10)[0]:
            buf += os.read(m, 65536)
        else:
            raise SystemExit("timeout waiting for " + repr(text))
    return time.time() - t0
out = {"prompt": until(b"vmcore-ts> ", 0)}
mark = len(buf); os.write(m, b"sys\r"); out["sys"] = until(b"PANIC:", mark); until(b"vmcore-ts> ", mark)
mark = len(buf); os.write(m, b"bt\r"); out["bt"] = until(b"#1 ", mark); until(b"vmcore-ts> ", mark)
os.write(m, b"quit\r"); p.wait()
print(json.dumps(out))
`;

const samples = { prompt: [], sys: [], bt: [] };
for (let i = 0; i < runs; i++) {
  const r = spawnSync('python3', ['-c', PY, JSON.stringify([process.execPath, 'dist/vmcore-ts.mjs', 'shell', dump])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr || r.stdout);
  const t = JSON.parse(r.stdout);
  for (const k of Object.keys(samples)) samples[k].push(t[k]);
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`vmcore-ts shell ${dump}, ${runs} runs, median seconds from process start:`);
console.log(`  prompt      ${median(samples.prompt).toFixed(3)}`);
console.log(`  after sys   ${median(samples.sys).toFixed(3)}`);
console.log(`  after bt    ${median(samples.bt).toFixed(3)}`);
