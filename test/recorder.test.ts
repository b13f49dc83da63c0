/** `perfemu recorder`: the flight recorder demonstration, as a user runs it. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const bin = fileURLToPath(new URL('../../bin/perfemu.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

test('perfemu recorder --json: every snapshot keeps the newest records of each CPU, whole and in order; the final one starts at the last attempt', () => {
  const r = cli('recorder', '--duration', '1', '--snapshots', '2', '--json');
  assert.is(r.status, 0, r.stderr + r.stdout.slice(0, 2000));
  const doc = JSON.parse(r.stdout) as {
    command: string;
    problems: string[];
    recordBytes: number;
    ringBytes: number;
    snapshots: { final: boolean; cpus: { cpu: number; kept: number; newest: number; oldest: number; bad: number }[] }[];
    totals: { cpu: number; attempts: number; written: number; lost: number }[];
  };
  assert.is(doc.command, 'recorder');
  assert.equal(doc.problems, []);
  assert.is(doc.snapshots.length, 3);
  const final = doc.snapshots.at(-1)!;
  assert.ok(final.final);
  for (const c of final.cpus) {
    const t = doc.totals.find((x) => x.cpu === c.cpu)!;
    assert.ok(t.written > 0, `CPU ${c.cpu} wrote`);
    if (c.kept === 0) continue; // a starved CPU worker may have written nothing since the last snapshot
    assert.is(c.newest, t.attempts - 1);
    assert.is(c.newest - c.oldest + 1, c.kept, 'consecutive');
    assert.ok(c.kept <= Math.floor(doc.ringBytes / doc.recordBytes), 'at most a ring of whole records');
  }
});

test('perfemu recorder: bad options are usage errors (exit 2); --help lists it', () => {
  let r = cli('recorder', '--pages', '3');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--pages must be a power of two');
  r = cli('recorder', '--kernel', '3.0');
  assert.is(r.status, 2);
  r = cli('--help');
  assert.match(r.stdout, /\n {2}recorder /);
});

test.run();
