// vmcore-ts: save, convert and analyse Linux crash dumps.
import { UsageError } from '../errors.ts';
import { useNodeCodecs } from '../io/node-codecs.ts';
import { runCli } from './run.ts';
import { vmcoreCommands } from './vmcore/commands.ts';

function usage(): string {
  const lines = ['usage: vmcore-ts COMMAND [OPTIONS] DUMP ...', '', 'commands:'];
  for (const [name, c] of Object.entries(vmcoreCommands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', "run 'vmcore-ts COMMAND --help' for a command's options");
  return lines.join('\n');
}

await runCli('vmcore-ts', async (argv) => {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = vmcoreCommands[name];
  if (!cmd) throw new UsageError(`unknown command '${name}'\n${usage()}`);
  useNodeCodecs(); // native zlib: twice as fast as the pure decoder the browser uses
  return cmd.run(rest);
});
