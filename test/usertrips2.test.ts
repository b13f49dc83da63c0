/**
 * What a second new user's walk through the commands found: output directories, combinations
 * one command refused and another ran, a filter that selects nothing, a closed pipe, and the
 * kernel a fault of its own runs on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bin, cliInProcess, spawnCli as spawnBin } from './fixtures/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'perfemu-usertrips2-'));
const cli = cliInProcess;
/** the bin in a process of its own, in `dir`; or a bash line run there */
const spawnCli = (args: string[], opts: { shell?: string } = {}) =>
  opts.shell ? spawnSync('bash', ['-c', opts.shell], { encoding: 'utf8', timeout: 60_000, cwd: dir }) : spawnBin(args, dir);

test('--out DIR of campaign and merge: an existing file, a missing parent or a path under /proc is refused at once (exit 2), nothing made', async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  const campaign = ['campaign', 'explore', '--scheduler', 'random', '--budget', '5', '--seeds', '1..2', '--workers', '1'];
  const cases: [string[], RegExp][] = [
    [[...campaign, '--out', file], /--out .*a-file: is not a directory/],
    [[...campaign, '--out', join(dir, 'no', 'such', 'dir')], /its parent .*no\/such is not an existing directory/],
    [[...campaign, '--out', '/proc/perfemu-x'], /--out \/proc\/perfemu-x: cannot be made/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
  }
  assert.not.ok(existsSync(join(dir, 'no')), 'no directory made');
  // a real result file, then merge with bad --out values and a tampered copy
  const ok = spawnCli([...campaign, '--out', 'res']);
  assert.is(ok.status, 0, ok.stderr);
  const result = join(dir, 'res', readdirSync(join(dir, 'res'))[0]!);
  for (const [out, re] of [
    [file, /is not a directory/],
    [join(dir, 'nope', 'x'), /its parent .*nope is not an existing directory/],
  ] as const) {
    const r = await cli('merge', result, '--out', out);
    assert.is(r.status, 2);
    assert.match(r.stderr, re);
  }
  assert.not.ok(existsSync(join(dir, 'nope')));
  const doc = JSON.parse(readFileSync(result, 'utf8')) as { counts: Record<string, number> };
  doc.counts.schedules = -5;
  writeFileSync(join(dir, 'tampered.json'), JSON.stringify(doc));
  const t = await cli('merge', join(dir, 'tampered.json'));
  assert.is(t.status, 2);
  assert.match(t.stderr, /counts\.schedules must be a count \(an integer >= 0\); got -5/);
  // a finding's kind names the replay file merge writes: a path there is refused
  const doc2 = JSON.parse(readFileSync(result, 'utf8')) as {
    findings: { kind: string; signature: string; hits: number; first: number; violation: boolean; replay: null }[];
  };
  doc2.findings = [{ kind: '../../escape', signature: 's', hits: 1, first: 1, violation: false, replay: null }];
  writeFileSync(join(dir, 'tampered2.json'), JSON.stringify(doc2));
  const t2 = await cli('merge', join(dir, 'tampered2.json'));
  assert.is(t2.status, 2);
  assert.match(t2.stderr, /findings\[0\]\.kind must be a finding's name/);
});

test('what explore refuses, campaign and replay files refuse too; pct needs a depth of at least 1', async () => {
  const cases: [string[], RegExp][] = [
    [['campaign', 'explore', '--strict', '--kernel', '4.7', '--scheduler', 'random', '--seeds', '1..3'], /--strict does not apply on kernel 4.7/],
    [['campaign', 'explore', '--scheduler', 'random', '--bound', '2', '--seeds', '1..3'], /--bound does not apply to the random scheduler/],
    [['campaign', 'explore', '--scheduler', 'pct', '--bound', '0', '--seeds', '1..3'], /--bound is pct's depth: an integer from 1 to 10/],
    [['explore', '--scheduler', 'pct', '--bound', '0'], /--bound is pct's depth/],
    [['stress', '--inject', 'leak-4.7', '--kernel', '6.18'], /--inject leak-4.7 is kernel 4.7 itself; --kernel 6.18 contradicts it/],
    [['campaign', 'stress', '--kernel', '4.7', '--window-us', '5', '--seeds', '1..2'], /--window-us does not apply on kernel 4.7/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
  }
  const base = { format: 'perfemu-schedule', version: 1, scenario: 'purge-window', schedule: [0], expect: { kind: 'x', violation: false, detail: '' } };
  const files: [object, RegExp][] = [
    [{ ...base, kernel: '4.7', strict: true, inject: null }, /"strict" must be false on kernel 4.7/],
    [{ ...base, kernel: '4.7', strict: false, inject: 'purge-no-owner-check' }, /"inject" purge-no-owner-check needs "kernel" "4.8" or "5.10" or "6.18"/],
    [{ ...base, kernel: '6.18', strict: false, inject: 'leak-4.7' }, /"inject" leak-4.7 is kernel 4.7 itself/],
  ];
  for (const [i, [doc, re]] of files.entries()) {
    const f = join(dir, `r${i}.replay.json`);
    writeFileSync(f, JSON.stringify(doc));
    const r = await cli('replay', f);
    assert.is(r.status, 2, JSON.stringify(doc));
    assert.match(r.stderr, re);
  }
});

test('stress --inject leak-4.7 names the kernel that runs: 4.7, in the header, the reproduce line and the JSON', () => {
  const r = spawnCli(['stress', '--inject', 'leak-4.7', '--ops', '200', '--seed', '4', '--cpus', '2', '--apps', '1', '--json']);
  const doc = JSON.parse(r.stdout) as { options: { kernel: string } };
  assert.is(doc.options.kernel, '4.7');
  const t = spawnCli(['stress', '--inject', 'leak-4.7', '--ops', '200', '--seed', '4', '--cpus', '2', '--apps', '1']);
  assert.match(t.stdout, /perfemu stress — kernel 4\.7, fault leak-4\.7/);
  assert.match(t.stderr, /reproduce: .*--kernel 4\.7 .*--inject leak-4\.7/);
});

test('conform --only that matches no scenario is an error, not "0 agree"', async () => {
  const r = await cli('conform', '--only', 'zzzqqq');
  assert.is(r.status, 2);
  assert.match(r.stderr, /--only 'zzzqqq' matches no scenario name/);
});

test('a reader that closes the pipe early ends the command quietly: no stack trace, the status of a SIGPIPE death (141)', () => {
  // about 120 KB of JSON, more than a pipe holds, so the write after head exits meets EPIPE
  const lab = `lab --cpus 1 --duration-ms 1 --pages 1,2,4,8,16,32,64,128 --wakeup-events ${Array.from({ length: 32 }, (_, i) => i + 1).join(',')} --json`;
  const r = spawnCli([], { shell: `node ${JSON.stringify(bin)} ${lab} | head -c 10 >/dev/null; echo "perfemu exited \${PIPESTATUS[0]}"` });
  assert.match(r.stdout, /perfemu exited 141/);
  assert.not.match(r.stderr, /EPIPE|Error/);
});

test('parse errors in our words: an unknown option is named plainly, a flag given a value is named as written', async () => {
  const cases: [string[], string][] = [
    [['replay', 'f', '--bogus'], "perfemu: Unknown option '--bogus' (see 'perfemu replay --help')"],
    [['demo', '--no-compare=1'], "perfemu: option '--no-compare' is a flag: it takes no value (see 'perfemu demo --help')"],
  ];
  for (const [args, msg] of cases) {
    const r = await cli(...args);
    assert.is(r.status, 2);
    assert.is(r.stderr, msg);
  }
});

test('campaign: a malformed JOB_COMPLETIONS is named; a shard with no seeds says so', () => {
  const bad = spawnSync(process.execPath, [bin, 'campaign', 'explore', '--scheduler', 'random', '--seeds', '1..3'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: 'x' },
  });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /JOB_COMPLETIONS must be a number of shards \(an integer >= 1\); got 'x'/);
  const empty = spawnCli(['campaign', 'explore', '--scheduler', 'random', '--seeds', '1..10', '--shard', '0/20', '--budget', '5', '--workers', '1']);
  assert.is(empty.status, 0, empty.stderr);
  assert.match(empty.stdout, /no seeds \(more shards than seeds\) of 1\.\.10: shard 0\/20/);
});

test("perfemu help COMMAND prints that command's help", async () => {
  const r = await cli('help', 'lab');
  assert.is(r.status, 0);
  assert.match(r.stdout, /^perfemu lab — /);
});

test('lab: wakeup settings with --no-wakeups are refused; --pages says its real limit; a reader that read nothing shows no latency', async () => {
  for (const o of [
    ['--wakeup-events', '4'],
    ['--watermark', '4096'],
    ['--wakeup-us', '10'],
  ]) {
    const r = await cli('lab', '--no-wakeups', ...o);
    assert.is(r.status, 2, o.join(' '));
    assert.match(r.stderr, new RegExp(`^perfemu: ${o[0]}: .* option does not apply with noWakeups`));
  }
  const big = await cli('lab', '--pages', '262144');
  assert.is(big.status, 2);
  assert.match(big.stderr, /--pages must be .* from 1 to 131072/);
  assert.match((await cli('lab', '--help')).stdout, /--pages P .*up to 131072.*at most 1 GiB of rings/);
  const r = await cli('lab', '--no-wakeups', '--duration-ms', '10', '--cpus', '1', '--pages', '8', '--json');
  const doc = JSON.parse(r.stdout) as { points: { read: number; written: number }[] };
  assert.is(doc.points[0]!.read, 0, 'the 100 ms poll timeout never came in 10 ms');
  const t = await cli('lab', '--no-wakeups', '--duration-ms', '10', '--cpus', '1', '--pages', '8');
  assert.match(t.stdout, /0\.0%\s+-\s+-\s+-\s/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
