// The GRUB script language (src/boot/grub-script.ts): quoting, variables, the compound commands,
// and syntax errors as FILE:LINE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseError } from '../../src/errors.ts';
import { parseGrubScript, type Command } from '../../src/boot/grub-script.ts';
import { GrubEvaluator } from '../../src/boot/grub.ts';
import { memMachine } from './machine.ts';

/** The arguments GRUB would pass to each simple command of `src` (variables from `vars`). */
function argvs(src: string, vars: Record<string, string> = {}): string[][] {
  const ev = new GrubEvaluator(memMachine({}), '/boot/grub/grub.cfg');
  for (const [k, v] of Object.entries(vars)) ev.run(`set ${k}='${v}'`);
  return parseGrubScript(src, 't.cfg').map((c) => ev.expand((c as Extract<Command, { kind: 'simple' }>).words));
}

test('GRUB words: single quotes literal, double quotes expand $var and keep spaces, backslash escapes, unquoted $var splits', () => {
  assert.deepEqual(argvs(`echo 'a $x \\' "b $x" c\\ d $x\${x}e "" $empty`, { x: '1 2' })[0], ['echo', 'a $x \\', 'b 1 2', 'c d', '1', '21', '2e', '']);
  assert.deepEqual(argvs('echo "\\$x \\" \\\\ \\n"', { x: 'v' })[0], ['echo', '$x " \\ \\n']);
  assert.deepEqual(argvs('menuentry_id_option="--id"; echo $menuentry_id_option x', {}).length, 2);
});

test('GRUB grammar: ; and newlines, # comments, if/elif/else/fi, for, while, function, menuentry/submenu blocks, line continuation', () => {
  const cmds = parseGrubScript(
    [
      '# header',
      'if [ -s $prefix/grubenv ]; then load_env; elif true; then echo b; else echo c; fi',
      'for x in a b; do echo $x; done',
      'while false; do echo never; done',
      'function f { echo "$1" ; }',
      "submenu 'S' --id s {",
      "  menuentry 'E' --class os \\",
      "      $menuentry_id_option 'e' { linux /vmlinuz root=/dev/sda1 }",
      '}',
    ].join('\n'),
    't.cfg',
  );
  assert.deepEqual(cmds.map((c) => [c.kind, c.line]), [['if', 2], ['for', 3], ['while', 4], ['function', 5], ['menu', 6]]);
  const ifc = cmds[0] as Extract<Command, { kind: 'if' }>;
  assert.equal(ifc.branches.length, 2);
  assert.ok(ifc.otherwise);
  const sub = cmds[4] as Extract<Command, { kind: 'menu' }>;
  assert.equal(sub.keyword, 'submenu');
  assert.equal((sub.body[0] as Extract<Command, { kind: 'menu' }>).body[0]!.line, 8);
});

test('GRUB syntax errors name the file and line: unterminated quote, missing fi, pipes', () => {
  const err = (src: string) => {
    try {
      parseGrubScript(src, 'g.cfg');
    } catch (e) {
      assert.ok(e instanceof ParseError);
      return `${e.source}:${e.line}: ${e.message}`;
    }
    assert.fail('no error');
  };
  assert.equal(err("set a=1\necho 'oops\n"), 'g.cfg:2: unterminated single quote');
  assert.match(err('if true; then\n echo x\n'), /^g\.cfg:3: expected 'elif' or 'else' or 'fi' before the end of the file/);
  assert.match(err('echo a | cat'), /^g\.cfg:1: '\|' is not part of the GRUB script language/);
  assert.match(err("menuentry 'x'\n{\n}"), /^g\.cfg:1: expected '\{' to open the menuentry block on the same line/);
});
