// kdump-ts: (in progress) prints usage.
import { runCli } from './run.ts';

await runCli('kdump-ts', () => {
  process.stdout.write('usage: kdump-ts ... (not implemented yet)\n');
  return 2;
});
