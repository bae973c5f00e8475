// kexec-ts: (in progress) prints usage.
import { runCli } from './run.ts';

await runCli('kexec-ts', () => {
  process.stdout.write('usage: kexec-ts ... (not implemented yet)\n');
  return 2;
});
