/**
 * src/v8_inlining.ts: with PERFEMU_V8_INLINING=wide, creating a kernel widens V8's inlining
 * budget for the process, and V8 honours the budget set at run time; without it V8's budget is
 * left alone unless widenInlining() is called (and PERFEMU_V8_INLINING=default refuses that).
 * Checked with V8's own inlining trace in a child process, on a callee too large for the
 * default budget.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const index = new URL('../src/index.js', import.meta.url).href;

// A callee of about 700 bytes of bytecode (over V8's default 460 for one inlined function, under
// perfemu's 1500), optimized inside its caller once a kernel exists.
const body = Array.from({ length: 90 }, (_, i) => `x = (x * 31 + ${i}) | 0;`).join(' ');
const child = `
import { Kernel, inliningState, widenInlining } from '${index}';
let state;
try {
  if (process.env.BAD_CREATE) {
    try { Kernel.create({ cpus: 1, version: '9.9' }); } catch (e) { console.log('REFUSED', e.code, inliningState()); }
  }
  Kernel.create({ cpus: 1 });
  if (process.env.CALL_WIDEN) console.log('WIDEN', widenInlining());
  state = inliningState();
} catch (e) { console.log('ERR', e.code, e.message); process.exit(0); }
function big(x) { ${body} return x; }
function caller(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + big(i)) | 0; return s; }
%PrepareFunctionForOptimization(big);
%PrepareFunctionForOptimization(caller);
caller(50); caller(50);
%OptimizeFunctionOnNextCall(caller);
caller(50);
console.log('STATE', state);
`;

/** this process's environment without the variables the child reads, then `env` */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const k of ['PERFEMU_V8_INLINING', 'CALL_WIDEN', 'BAD_CREATE']) delete base[k];
  return { ...base, ...env };
}

function run(env: Record<string, string>): { out: string; inlined: boolean } {
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--trace-turbo-inlining', '--input-type=module', '-e', child], {
    encoding: 'utf8',
    env: childEnv(env),
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  return { out: r.stdout, inlined: /Inlining \S+ \{\S+ <SharedFunctionInfo big>\} into \S+ \{\S+ <SharedFunctionInfo caller>\}/.test(r.stdout) };
}

test("unset: a kernel leaves V8's budget alone, and a callee over its size stays a call", () => {
  const r = run({});
  assert.match(r.out, 'STATE default');
  assert.not.ok(r.inlined, 'big should stay a call');
});

test("empty counts as unset, as a shell's `VAR= cmd` means", () => {
  const r = run({ PERFEMU_V8_INLINING: '' });
  assert.match(r.out, 'STATE default');
  assert.not.ok(r.inlined);
});

test('PERFEMU_V8_INLINING=wide: a kernel widens the budget, and the same callee is inlined', () => {
  const r = run({ PERFEMU_V8_INLINING: 'wide' });
  assert.match(r.out, 'STATE wide');
  assert.ok(r.inlined, 'big should be inlined into caller');
});

test('a Kernel.create refused for a bad option leaves the budget alone', () => {
  const r = run({ PERFEMU_V8_INLINING: 'wide', BAD_CREATE: '1' });
  assert.match(r.out, 'REFUSED ERR_INVALID_ARG_VALUE default');
  assert.match(r.out, 'STATE wide', 'the next, valid create sets it');
});

test('widenInlining() widens it without the variable; PERFEMU_V8_INLINING=default refuses', () => {
  let r = run({ CALL_WIDEN: '1' });
  assert.match(r.out, 'WIDEN wide');
  assert.ok(r.inlined);
  r = run({ CALL_WIDEN: '1', PERFEMU_V8_INLINING: 'default' });
  assert.match(r.out, 'WIDEN default');
  assert.not.ok(r.inlined);
});

test('another value is refused, naming the variable and the rule, before any kernel exists', () => {
  const r = run({ PERFEMU_V8_INLINING: 'max' });
  assert.match(r.out, "ERR ERR_INVALID_ARG_VALUE The environment variable PERFEMU_V8_INLINING must be 'wide' or 'default' (or unset). Received 'max'");
});

test('the CLI refuses a bad value before any work, exit 2; help and unknown commands are answered as without it', () => {
  const bin = new URL('../../bin/perfemu.js', import.meta.url).pathname;
  const env = childEnv({ PERFEMU_V8_INLINING: 'max' });
  const bad = spawnSync(process.execPath, [bin, 'demo', '--cpus', '2'], { encoding: 'utf8', env, timeout: 60_000 });
  assert.is(bad.status, 2);
  assert.is(bad.stdout, '');
  assert.match(bad.stderr, "perfemu: The environment variable PERFEMU_V8_INLINING must be 'wide' or 'default' (or unset). Received 'max'");
  const help = spawnSync(process.execPath, [bin, 'demo', '--help'], { encoding: 'utf8', env, timeout: 60_000 });
  assert.is(help.status, 0);
  assert.match(help.stdout, 'perfemu demo');
  const unknown = spawnSync(process.execPath, [bin, 'nosuch'], { encoding: 'utf8', env, timeout: 60_000 });
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, "unknown command 'nosuch'");
  const top = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 60_000 });
  assert.match(top.stdout, 'PERFEMU_V8_INLINING=wide');
});

test.run();
