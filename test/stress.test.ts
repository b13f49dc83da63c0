/**
 * The race stress engine: the correct kernels run clean on fixed seeds, every deliberately
 * broken kernel is caught by the invariant that targets it, and a seed replays its actions.
 * Every assertion message carries the seed and the command that reproduces the run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAULTS } from '../src/kernel/faults.js';
import { runStress, type StressOptions, type StressReport } from '../src/stress/engine.js';
import type { KernelVersion } from '../src/index.js';
import { assertNoWorkers } from './fixtures/workers.js';

const bin = fileURLToPath(new URL('../../bin/perfemu.js', import.meta.url));

function short(kernel: KernelVersion, seed: number, extra: Partial<StressOptions> = {}): StressOptions {
  return { cpus: 2, apps: 1, ops: 1500, seed, kernel, strict: false, maxEntries: 4, auditMs: 50, ...extra };
}

function failed(r: StressReport): string {
  const bad = r.invariants.filter((i) => i.result === 'violated').map((i) => `${i.name} x${i.count}`);
  return `seed ${r.options.seed}: ${bad.join(', ') || 'no invariant'} ${JSON.stringify(r.violations.slice(0, 3))}; left ${r.leftOver.join(', ')}; reproduce: ${r.reproduce}`;
}

const CASES: [KernelVersion, boolean, number][] = [
  ['4.7', false, 11],
  ['4.8', false, 12],
  ['5.10', false, 13],
  ['6.18', false, 14],
  ['4.8', true, 15],
  ['6.18', true, 16],
];
for (const [kernel, strict, seed] of CASES) {
  test(`${kernel}${strict ? ' strict' : ''}: a short stress run (seed ${seed}) breaks no invariant and leaves nothing behind`, async () => {
    const r = await runStress(short(kernel, seed, { strict }));
    assert.ok(r.ok, failed(r));
    assert.equal(r.leftOver, [], failed(r));
    assert.ok(r.ops >= 3000, `both actors ran (${r.ops} actions)`);
    assert.ok(
      r.audits > 0 && r.ringsChecked > 0 && r.recordsVerified > 0,
      `the checks ran: ${r.audits} audits, ${r.ringsChecked} rings, ${r.recordsVerified} records`,
    );
    if (strict) assert.is(r.foreignEntriesPurged, 0, `strict: no foreign entry purged (seed ${seed})`);
    if (kernel === '4.7') assert.is.not(r.invariants.find((i) => i.name === 'release')!.result, 'violated');
    assertNoWorkers();
  });
}

for (const f of FAULTS) {
  test(`fault ${f.name} is caught by the ${f.invariant} invariant (seed 5)`, async () => {
    const r = await runStress({
      cpus: 4,
      apps: 2,
      durationMs: 10_000,
      seed: 5,
      kernel: f.kernel ?? '6.18',
      strict: false,
      maxEntries: 4,
      inject: f.name,
      stopOnViolation: true,
    });
    const inv = r.invariants.find((i) => i.name === f.invariant)!;
    assert.is(inv.result, 'violated', `seed 5: ${f.name} escaped ${f.invariant}; reproduce: ${r.reproduce}`);
    assert.ok(!r.ok);
    assert.match(r.reproduce, `--inject ${f.name}`);
    assertNoWorkers();
  });
}

test("4.7: a CPU using an event that its slot's immediate fput freed is the old kernel's behaviour, not a violation", async () => {
  const r = await runStress({ cpus: 4, apps: 2, durationMs: 1500, seed: 21, kernel: '4.7', strict: false, maxEntries: 4 });
  const uaf = r.invariants.find((i) => i.name === 'use-after-free')!;
  assert.ok(uaf.result === 'ok' || uaf.result === 'expected', failed(r));
  assert.ok(r.ok, failed(r));
});

// 4.7 and 4.8 free a map with a synchronize_rcu, in work the CPU pool's ticker runs on the main
// thread while app workers keep freeing maps: the ticker must still get back to the event loop
// for the run to end on time. A hang cannot be caught in the process that hangs, so this runs
// the CLI with a bound.
for (const kernel of ['4.7', '4.8'] as const) {
  test(`${kernel}: a timed run with 4 CPUs and 2 apps ends on time while map frees wait for grace periods (seed 21)`, () => {
    const args = ['stress', '--json', '--kernel', kernel, '--duration', '2', '--seed', '21', '--cpus', '4', '--apps', '2', '--max-entries', '4'];
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 90_000 });
    assert.is(r.signal, null, `perfemu ${args.join(' ')} did not end within 90 s`);
    assert.is(r.status, 0, r.stderr.slice(-2000));
    const doc = JSON.parse(r.stdout) as StressReport;
    assert.ok(doc.ok, failed(doc));
    assert.equal(doc.leftOver, [], failed(doc));
  });
}

test('the same seed replays the same action sequence; another seed does not', async () => {
  const a = await runStress(short('6.18', 31, { ops: 800 }));
  const b = await runStress(short('6.18', 31, { ops: 800 }));
  const c = await runStress(short('6.18', 32, { ops: 800 }));
  assert.equal(a.actorDigests, b.actorDigests, 'seed 31 twice');
  assert.equal(a.actions, b.actions);
  assert.not.equal(a.actorDigests, c.actorDigests, 'seed 32');
  assertNoWorkers();
});

test('the purge window is reached under stress in kernel mode, and never with --strict', async () => {
  let reached = 0;
  for (let seed = 41; seed < 45 && reached === 0; seed++) {
    const r = await runStress({ cpus: 2, apps: 2, durationMs: 1500, seed, kernel: '6.18', strict: false, maxEntries: 2, windowUs: 500 });
    assert.ok(r.ok, failed(r));
    reached += r.foreignEntriesPurged;
  }
  assert.ok(reached > 0, 'seeds 41..44 with a 500 µs window: a purge removed a foreign entry at least once');
  const s = await runStress({ cpus: 2, apps: 2, durationMs: 1500, seed: 41, kernel: '6.18', strict: true, maxEntries: 2, windowUs: 500 });
  assert.is(s.foreignEntriesPurged, 0);
  assertNoWorkers();
});

test('perfemu stress --json reports every invariant and the reproduction command; a violation exits 1 with it', () => {
  let r = spawnSync(process.execPath, [bin, 'stress', '--json', '--ops', '300', '--seed', '3', '--cpus', '2', '--apps', '1'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as StressReport;
  assert.is(doc.reproduce, 'npx perfemu stress --seed 3 --cpus 2 --apps 1 --ops 300 --kernel 6.18 --max-entries 4');
  assert.equal(
    doc.invariants.map((i) => i.name),
    ['references', 'use-after-free', 'release', 'conservation', 'provenance', 'leaked-events', 'kernel'],
  );
  r = spawnSync(process.execPath, [bin, 'stress', '--inject', 'double-drop', '--duration', '3', '--seed', '4', '--cpus', '2', '--apps', '1'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 1, r.stdout);
  assert.match(
    r.stdout,
    'result: VIOLATED — reproduce with: npx perfemu stress --seed 4 --cpus 2 --apps 1 --duration 3 --kernel 6.18 --max-entries 4 --inject double-drop',
  );
  assert.match(r.stderr, 'seed 4; reproduce:');
});

test('perfemu stress refuses bad options, naming them', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, [bin, 'stress', ...a], { encoding: 'utf8', timeout: 30_000 });
  let r = run('--inject', 'nope');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--inject must be one of free-without-gp');
  r = run('--duration', '2', '--ops', '5');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--duration and --ops exclude each other');
  r = run('--kernel', '5.4');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--kernel must be one of 4.7, 4.8, 5.10, 6.18');
});

test.run();
