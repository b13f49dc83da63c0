/** The command line as a user runs it: the package's bin, real processes, exit codes. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FIXED } from './fixtures/scenario.js';

const bin = fileURLToPath(new URL('../../bin/perfemu.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

test('perfemu --help lists every command and exits 0', () => {
  const r = cli('--help');
  assert.is(r.status, 0);
  for (const c of ['demo', 'story', 'explain']) assert.match(r.stdout, new RegExp(`\\n  ${c} `));
});

test('perfemu with no command prints the help and exits 2', () => {
  const r = cli();
  assert.is(r.status, 2);
  assert.match(r.stdout, 'Usage: perfemu <command>');
});

test('an unknown command or option is a usage error naming it, exit 2', () => {
  let r = cli('frobnicate');
  assert.is(r.status, 2);
  assert.match(r.stderr, "unknown command 'frobnicate'");
  r = cli('story', '--bogus');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--bogus');
  r = cli('story', '--cpus', '0');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--cpus must be an integer from 1 to 64');
});

test("perfemu story --json: 4.7 leaks the exited app's events, 4.8+ purges them, PRESERVE_ELEMS keeps them", () => {
  const r = cli('story', '--json', '--cpus', '2');
  assert.is(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    results: {
      kernel: string;
      preserveElems: boolean;
      slotsAfterExit: number;
      eventsAliveAfterGracePeriod: number;
      outputAfterExit: number[];
      eventsAliveAfterUnlink: number;
      violations: number;
    }[];
  };
  const by = (k: string, p = false) => doc.results.find((x) => x.kernel === k && x.preserveElems === p)!;
  assert.equal([by('4.7').slotsAfterExit, by('4.7').eventsAliveAfterGracePeriod], [2, 2]);
  for (const k of FIXED) {
    assert.equal([by(k).slotsAfterExit, by(k).eventsAliveAfterGracePeriod, by(k).outputAfterExit], [0, 0, [-2, -2]], k);
  }
  assert.equal(by('6.18', true).slotsAfterExit, 2);
  for (const x of doc.results) assert.equal([x.eventsAliveAfterUnlink, x.violations], [0, 0]);
});

test('perfemu demo --json: demux holds, app-0 exit purges its slots on 6.18 (ENOENT after), 4.7 keeps them (the leak); no worker left', () => {
  const r = cli('demo', '--json', '--duration', '1', '--cpus', '4', '--apps', '2', '--rate', '5000');
  assert.is(r.status, 0, r.stderr + r.stdout.slice(-2000));
  const doc = JSON.parse(r.stdout) as {
    problems: string[];
    runs: {
      kernel: string;
      badRecords: number;
      exitedAppEvents: { heldBySlot: boolean; alive: boolean }[];
      final: { rows: { cpu: number; app: string; enoent: number; noRing: number; event: number | null }[] };
      appResults: { name: string; received: number }[];
    }[];
  };
  assert.equal(doc.problems, []);
  const [modern, old] = doc.runs;
  assert.equal([modern!.kernel, old!.kernel], ['6.18', '4.7']);
  for (const row of modern!.final.rows.filter((x) => x.app === 'app-0')) {
    assert.is(row.event, null, `CPU ${row.cpu}'s slot purged`);
    assert.ok(row.enoent > 0, `CPU ${row.cpu}'s outputs now fail with ENOENT`);
  }
  assert.ok(modern!.exitedAppEvents.every((e) => !e.alive && !e.heldBySlot));
  assert.ok(
    old!.exitedAppEvents.every((e) => e.alive && e.heldBySlot),
    '4.7: the pinned map still holds them',
  );
  assert.ok(modern!.appResults[1]!.received > 0);
});

test('perfemu demo refuses --apps above --cpus, naming both', () => {
  const r = cli('demo', '--apps', '5', '--cpus', '4');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--apps (5) must not exceed --cpus (4)');
});

test('perfemu explain shows map_release absent in 4.7 and the purge from 4.8 on', () => {
  const r = cli('explain', '--json');
  assert.is(r.status, 0);
  const doc = JSON.parse(r.stdout) as { tables: { ops: Record<string, string | null> }[] };
  assert.equal(
    doc.tables.map((t) => t.ops.map_release),
    [null, 'perf_event_fd_array_release', 'perf_event_fd_array_release', 'perf_event_fd_array_release_strict'],
  );
});

test.run();
