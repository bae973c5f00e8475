// The viewer's worker protocol (web/worker-api.ts): the page calls the worker's methods by name with
// the methods' own argument and result types. The typecheck (tsc -p tsconfig.json) checks app.ts's
// calls; these tests check that the table and the page agree at run time, and that the types refuse
// a wrong name or argument.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { handle, workerApi, type Call } from '../web/worker-api.ts';

const pageCalls = () => new Set([...readFileSync('web/app.ts', 'utf8').matchAll(/\b(?:call|shared)\('(\w+)'/g)].map((m) => m[1]!));

test('viewer protocol: every method the page calls is in the worker\'s table, and every method of the table is called', () => {
  const called = pageCalls();
  const table = new Set(Object.keys(workerApi));
  assert.ok(called.size >= 5, `found the page's calls: ${[...called].join(', ')}`);
  assert.deepEqual([...called].filter((m) => !table.has(m)), [], 'called by the page, missing in web/worker-api.ts');
  assert.deepEqual([...table].filter((m) => !called.has(m)), [], 'in web/worker-api.ts, never called by the page');
});

test('viewer protocol: a request for an unknown method, or before a dump is opened, is a one-line error', () => {
  assert.throws(() => handle({ id: 1, method: 'toString' as 'log', args: [] }), /^Error: unknown request toString$/);
  assert.throws(() => handle({ id: 2, method: 'log', args: [] }), /^Error: no dump opened$/);
});

// Never run: tsc fails if a wrong name or argument type-checks (each @ts-expect-error must be used).
export function callsThatMustNotTypecheck(call: Call): void {
  // @ts-expect-error no such method
  void call('logs');
  // @ts-expect-error hex takes (where: string, length: number)
  void call('hex', { where: 'panic', length: 512 });
  // @ts-expect-error taskBacktrace needs the task
  void call('taskBacktrace');
  // @ts-expect-error the result is the method's own (log() returns LogData, not a string)
  const s: Promise<string> = call('log');
  void s;
}
