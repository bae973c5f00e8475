// vmcore-ts: save, convert and analyse Linux crash dumps.
import { UsageError } from '../errors.ts';
import { useNodeCodecs } from '../io/node-codecs.ts';
import { runCli } from './run.ts';
import { vmcoreAliases, vmcoreCommands } from './vmcore/commands.ts';

/** The usage text; loads every command module for its summary (only help and errors need it). */
async function usage(): Promise<string> {
  const lines = ['usage: vmcore-ts COMMAND [OPTIONS] DUMP ...', '', 'commands:'];
  for (const [name, load] of Object.entries(vmcoreCommands)) {
    const aliases = Object.keys(vmcoreAliases).filter((k) => vmcoreAliases[k] === name);
    lines.push(`  ${[name, ...aliases].join(', ').padEnd(13)} ${(await load()).summary}`);
  }
  lines.push('', "run 'vmcore-ts COMMAND --help' for a command's options");
  return lines.join('\n');
}

await runCli('vmcore-ts', async (argv) => {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write((await usage()) + '\n');
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(vmcoreAliases, name) ? vmcoreAliases[name]! : name;
  const load = Object.hasOwn(vmcoreCommands, command) ? vmcoreCommands[command] : undefined;
  if (!load) throw new UsageError(`unknown command '${name}'\n${await usage()}`);
  useNodeCodecs(); // native zlib: twice as fast as the pure decoder the browser uses
  return (await load()).run(rest);
});
