/**
 * The interleaving explorer: it finds the purge window and every interleaving fault with a
 * fixed seed or bound, shrinks the schedule, and a replay reproduces the finding; the correct
 * kernel explored exhaustively at a small bound finds nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explore, replay, type ExploreOptions, type ReplayFile } from '../src/explore/explore.js';
import { SCENARIO_FOR_FAULT, scenarioByName } from '../src/explore/scenarios.js';

const bin = fileURLToPath(new URL('../../bin/perfemu.js', import.meta.url));
const base: ExploreOptions = { scheduler: 'exhaustive', seed: 1, bound: 2, maxSchedules: 50_000, maxMs: 60_000, kernel: '6.18', strict: false };

test('exhaustive search finds the purge window (kernel mode) in a few steps, not as a violation; the replay shows it again', () => {
  const scn = scenarioByName('purge-window')!;
  for (const kernel of ['4.8', '6.18'] as const) {
    const r = explore(scn, { ...base, kernel });
    assert.ok(r.found, `${kernel}: found`);
    assert.equal([r.found!.finding.kind, r.found!.finding.violation, r.found!.preemptions], ['foreign-entry-purged', false, 1]);
    assert.ok(r.found!.trace.length < 60, `a short trace (${r.found!.trace.length} accesses)`);
    const again = replay(scn, { version: kernel, strict: false }, r.found!.shrunk);
    assert.ok(
      again.findings.some((f) => f.kind === 'foreign-entry-purged'),
      'replayed',
    );
    assert.equal(again.results, r.found!.results);
  }
});

test('with --strict the exhaustive search within bound 2 exhausts the space and finds no window', () => {
  for (const kernel of ['4.8', '6.18'] as const) {
    const r = explore(scenarioByName('purge-window')!, { ...base, kernel, strict: true });
    assert.equal([r.found, r.exhausted, r.targetHits], [null, true, 0], `${kernel}: ${r.schedules} schedules`);
  }
});

test('the correct kernel explored exhaustively at a small bound breaks nothing', () => {
  for (const name of ['update-race', 'ring']) {
    const r = explore(scenarioByName(name)!, { ...base, bound: 2 });
    assert.equal([r.found, r.exhausted], [null, true], `${name}: ${r.schedules} schedules`);
  }
  const r = explore(scenarioByName('output-vs-delete')!, { ...base, bound: 1 });
  assert.equal([r.found, r.exhausted], [null, true], `output-vs-delete at bound 1: ${r.schedules} schedules`);
});

const FAULTS = ['free-without-gp', 'gp-no-wait', 'update-load-store', 'reader-early-tail', 'producer-early-head'];
for (const fault of FAULTS) {
  test(`fault ${fault}: a fixed exploration finds it, shrinks it, and the replay fails again the same way`, () => {
    const scn = scenarioByName(SCENARIO_FOR_FAULT[fault]!)!;
    const r = explore(scn, { ...base, inject: fault });
    assert.ok(r.found, `${fault}: found in ${r.schedules} schedules`);
    assert.ok(r.found!.finding.violation, r.found!.finding.kind);
    assert.ok(r.found!.shrunk.filter((c) => c > 0).length <= r.found!.schedule.filter((c) => c > 0).length);
    const again = replay(scn, { version: '6.18', strict: false, inject: fault }, r.found!.shrunk);
    assert.ok(
      again.findings.some((f) => f.kind === r.found!.finding.kind),
      `replay of [${r.found!.shrunk}] reproduces ${r.found!.finding.kind}`,
    );
  });
}

test('random and pct schedulers find a fault from a fixed seed, and the same seed explores the same schedules', () => {
  const scn = scenarioByName('output-vs-delete')!;
  const a = explore(scn, { ...base, scheduler: 'random', seed: 3, inject: 'free-without-gp' });
  const b = explore(scn, { ...base, scheduler: 'random', seed: 3, inject: 'free-without-gp' });
  assert.ok(a.found);
  assert.equal([a.schedules, a.found!.schedule], [b.schedules, b.found!.schedule]);
  const p = explore(scn, { ...base, scheduler: 'pct', seed: 3, bound: 2, inject: 'free-without-gp' });
  assert.ok(p.found, `pct: ${p.schedules} schedules`);
});

test('perfemu explore writes a replay file that perfemu replay re-executes to the same violation (exit 1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perfemu-explore-'));
  try {
    const out = join(dir, 'uaf.json');
    let r = spawnSync(process.execPath, [bin, 'explore', '--inject', 'free-without-gp', '--out', out], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stdout, 'VIOLATION: use-after-free-entry');
    assert.match(r.stdout, `npx perfemu replay ${out}`);
    const file = JSON.parse(readFileSync(out, 'utf8')) as ReplayFile;
    assert.equal([file.format, file.version, file.scenario, file.inject], ['perfemu-schedule', 1, 'output-vs-delete', 'free-without-gp']);
    r = spawnSync(process.execPath, [bin, 'replay', out], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stdout, 'reproduced: use-after-free-entry');
    r = spawnSync(process.execPath, [bin, 'explore', '--inject', 'free-without-gp', '--out', out, '--json'], { encoding: 'utf8', timeout: 60_000 });
    const doc = JSON.parse(r.stdout) as { replayFile: string };
    assert.is(doc.replayFile, join(dir, 'uaf-1.json'), 'an existing file is never overwritten');
    // a schedule that does not lead to the recorded finding: replay says so, exit 3
    writeFileSync(join(dir, 'edited.json'), JSON.stringify({ ...file, schedule: [] }));
    r = spawnSync(process.execPath, [bin, 'replay', join(dir, 'edited.json')], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 3, r.stdout);
    assert.match(r.stdout, 'NOT reproduced: expected use-after-free-entry');
    r = spawnSync(process.execPath, [bin, 'replay', join(dir, 'missing.json')], { encoding: 'utf8' });
    assert.is(r.status, 2);
    assert.match(r.stderr, 'cannot read replay file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
