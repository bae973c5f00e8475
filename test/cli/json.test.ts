// --json: every command's top-level object carries `schema` (src/json-schema.ts) and our field
// names are camelCase (names from the kernel — registers, struct members — keep its spelling).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { JSON_SCHEMA } from '../../src/json-schema.ts';
import { fakeRoot } from '../kdump/fake-root.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';

function cli(bin: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', `src/cli/${bin}.ts`, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Every key we name (not under kernel-named maps) that is not camelCase. */
function notCamel(v: unknown, path = ''): string[] {
  if (v === null || typeof v !== 'object') return [];
  if (Array.isArray(v)) return v.slice(0, 5).flatMap((x, i) => notCamel(x, `${path}[${i}]`));
  return Object.entries(v).flatMap(([k, x]) => {
    if (['regs', 'userRegs', 'value', 'counters'].includes(k)) return []; // the kernel's names
    return [...(/^[a-z][a-zA-Z0-9]*$/.test(k) ? [] : [`${path}.${k}`]), ...notCamel(x, `${path}.${k}`)];
  });
}

test('vmcore-ts --json: schema on every top-level object (dmesg: its header line), camelCase names', () => {
  assert.equal(JSON_SCHEMA, 1);
  const runs: string[][] = [
    ['info', DUMP], ['summary', DUMP], ['bt', DUMP], ['ps', DUMP], ['regs', DUMP], ['mem', DUMP], ['sym', DUMP, 'panic'],
    ['read', DUMP, 'linux_banner', '16'], ['types', DUMP, 'list_head'], ['types', DUMP, 'list_*'], ['struct', DUMP, 'list_head', 'init_task'],
  ];
  for (const args of runs) {
    const r = cli('vmcore-ts', ...args, '--json');
    assert.equal(r.code, 0, `${args[0]}: ${r.err}`);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    assert.equal(j.schema, JSON_SCHEMA, args.join(' '));
    assert.equal(Object.keys(j)[0], 'schema', `${args[0]}: schema comes first`);
    assert.deepEqual(notCamel(j), [], args.join(' '));
  }
  const lines = cli('vmcore-ts', 'dmesg', '--json', DUMP).out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines[0], { schema: JSON_SCHEMA, format: 'lockless ring buffer' });
  assert.deepEqual(Object.keys(lines[1]!), ['seq', 'tsNsec', 'time', 'level', 'facility', 'caller', 'text']);
  assert.deepEqual(lines.slice(1).flatMap((l) => notCamel(l)), []);
});

test('kdump-ts and kexec-ts --json: schema first, camelCase names', () => {
  const root = fakeRoot();
  for (const [bin, args] of [['kdump-ts', ['status', '--root', root]], ['kdump-ts', ['test', '--root', root]], ['kexec-ts', ['-S']]] as const) {
    const r = cli(bin, ...args, '--json');
    const j = JSON.parse(r.out) as Record<string, unknown>;
    assert.equal(Object.keys(j)[0], 'schema', `${bin} ${args[0]}`);
    assert.equal(j.schema, JSON_SCHEMA);
    assert.deepEqual(notCamel(j), [], `${bin} ${args[0]}`);
  }
});
