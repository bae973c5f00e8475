// Preloaded (node --import) into a CLI run by the tests that check a command does nothing: any
// attempt to start a process (kexec-ts, sync) or to load koffi (the kexec/reboot syscalls) ends the
// run with exit 99 and "GUARD:" on stderr, before it can act.
import childProcess from 'node:child_process';
import Module, { syncBuiltinESMExports } from 'node:module';

const refuse = (what) => () => {
  process.stderr.write(`GUARD: ${what}\n`);
  process.exit(99);
};
for (const f of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) childProcess[f] = refuse(`child_process.${f}`);
syncBuiltinESMExports();
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'koffi') refuse('koffi (the syscall layer) was loaded')();
  return load.call(this, request, ...rest);
};
