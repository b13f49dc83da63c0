/**
 * Campaigns: the shard arithmetic tiles any range (a seeded property test), the Kubernetes
 * variables give the shard --shard would, merging N shards equals one run (explore random and
 * exhaustive, stress with --ops) for N = 1, 3, 4, merge checks its inputs, and deploy/ holds an
 * Indexed Job and a Dockerfile with no network step but npm ci.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explore, replay } from '../src/explore/explore.js';
import { scenarioByName } from '../src/explore/scenarios.js';
import { mergeResults, type CampaignResult, type CampaignSpec } from '../src/campaign/result.js';
import { campaignSubtrees, runCampaign } from '../src/campaign/run.js';
import { coverage, parseRange, parseShard, rangeSize, shardFromEnv, shardSlice, type Range } from '../src/campaign/shard.js';
import { campaignProgressLine, resolveShard } from '../src/cli/campaign.js';
import { run } from '../src/cli/main.js';
import { Prng } from '../src/stress/prng.js';
import { parseYaml } from './fixtures/yaml.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/perfemu.js');

const randomSpec: CampaignSpec = {
  command: 'explore',
  options: { scenario: 'purge-window', scheduler: 'random', bound: 2, budget: 200, kernel: '6.18', strict: false, inject: null, subtrees: null },
};
const exhaustiveSpec: CampaignSpec = {
  command: 'explore',
  options: {
    scenario: 'update-race',
    scheduler: 'exhaustive',
    bound: 1,
    budget: 100_000,
    kernel: '6.18',
    strict: false,
    inject: 'update-load-store',
    subtrees: 8,
  },
};
const stressSpec: CampaignSpec = {
  command: 'stress',
  options: { cpus: 1, apps: 1, ops: 40, kernel: '6.18', strict: false, maxEntries: 2, inject: null, windowUs: 0 },
};

/** the answer of a campaign: what must not depend on how it was split */
const answer = (r: { counts: CampaignResult['counts']; findings: CampaignResult['findings'] }) => ({ counts: r.counts, findings: r.findings });

async function shardsMerged(spec: CampaignSpec, seeds: Range | null, n: number) {
  const results = [];
  for (let k = 0; k < n; k++) results.push({ file: `shard-${k}`, result: await runCampaign(spec, { seeds, shard: { index: k, count: n }, workers: 1 }) });
  return mergeResults(results);
}

test('shard arithmetic: for any A..B and N the N slices are contiguous, in order, and cover every seed exactly once (property, seeded)', () => {
  const seed = Number(process.env.PERFEMU_TEST_SEED ?? 20261130);
  const rng = new Prng(seed, 17);
  for (let i = 0; i < 2000; i++) {
    const first = rng.below(1000) * (rng.chance(0.2) ? 1_000_000 : 1);
    const size = 1 + rng.below(rng.chance(0.5) ? 20 : 5000);
    const whole = { first, last: first + size - 1 };
    const n = 1 + rng.below(rng.chance(0.3) ? 40 : 8);
    const slices = Array.from({ length: n }, (_, k) => shardSlice(whole, { index: k, count: n }));
    const msg = `seed ${seed}, case ${i}: ${whole.first}..${whole.last} in ${n}`;
    assert.equal(
      slices.reduce((s, r) => s + rangeSize(r), 0),
      size,
      msg,
    );
    let next = whole.first;
    for (const s of slices) {
      if (rangeSize(s) === 0) continue;
      assert.is(s.first, next, msg);
      next = s.last + 1;
    }
    assert.is(next, whole.last + 1, msg);
    const sizes = slices.map(rangeSize);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${msg}: balanced (${sizes.join(' ')})`);
    assert.equal(coverage(whole, slices), { missing: [], overlapping: [] }, msg);
  }
});

test('coverage reports the seeds no slice has and the seeds two slices share', () => {
  const whole = { first: 1, last: 100 };
  assert.equal(
    coverage(whole, [
      { first: 1, last: 30 },
      { first: 25, last: 60 },
      { first: 71, last: 90 },
    ]),
    {
      missing: [
        { first: 61, last: 70 },
        { first: 91, last: 100 },
      ],
      overlapping: [{ first: 25, last: 30 }],
    },
  );
  assert.equal(parseRange('1..20000', 0x7fffffff), { first: 1, last: 20000 });
  assert.equal(parseRange('7', 10), { first: 7, last: 7 });
  for (const bad of ['5..1', '1..', 'a..b', '1...3', '-1..3']) assert.is(parseRange(bad, 0x7fffffff), null, bad);
  assert.equal(parseShard('2/4', 100), { index: 2, count: 4 });
  for (const bad of ['4/4', '0/0', '1-4', '/4', '2/']) assert.is(parseShard(bad, 100), null, bad);
});

test('JOB_COMPLETION_INDEX with JOB_COMPLETIONS or --shards gives exactly the shard --shard K/N gives', () => {
  for (const n of [1, 3, 4, 7]) {
    for (let k = 0; k < n; k++) {
      const want = resolveShard(`${k}/${n}`, undefined, {});
      assert.equal(resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: String(k), JOB_COMPLETIONS: String(n) }), want);
      assert.equal(resolveShard(undefined, String(n), { JOB_COMPLETION_INDEX: String(k) }), want);
      assert.equal(resolveShard(`${k}/${n}`, undefined, { JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: '99' }), want, '--shard wins over the environment');
    }
  }
  assert.equal(resolveShard(undefined, undefined, {}), { index: 0, count: 1 });
  assert.type(shardFromEnv({ JOB_COMPLETION_INDEX: '2' }, undefined, 100), 'string', 'an index without a count is an error');
  assert.type(shardFromEnv({ JOB_COMPLETION_INDEX: '4', JOB_COMPLETIONS: '4' }, undefined, 100), 'string');
  assert.throws(() => resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '5', JOB_COMPLETIONS: '4' }), /JOB_COMPLETION_INDEX=5/);
  assert.throws(() => resolveShard('1/4', '3', {}), /--shards \(3\) contradicts/);
});

test('the CLI with JOB_COMPLETION_INDEX set writes the result file --shard writes (same shard, slice, counts, findings)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perfemu-campaign-'));
  try {
    const args = [
      'campaign',
      'explore',
      '--scenario',
      'purge-window',
      '--scheduler',
      'random',
      '--budget',
      '100',
      '--seeds',
      '1..12',
      '--workers',
      '1',
      '--json',
    ];
    const env = { ...process.env, JOB_COMPLETION_INDEX: '2', JOB_COMPLETIONS: '3' };
    const a = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', cwd: dir, timeout: 60_000 });
    const { JOB_COMPLETION_INDEX: _i, JOB_COMPLETIONS: _n, ...clean } = process.env;
    const b = spawnSync(process.execPath, [bin, ...args, '--shard', '2/3'], { env: clean, encoding: 'utf8', cwd: dir, timeout: 60_000 });
    assert.is(a.status, 0, a.stderr);
    assert.is(b.status, 0, b.stderr);
    const ra = JSON.parse(a.stdout) as CampaignResult;
    const rb = JSON.parse(b.stdout) as CampaignResult;
    assert.equal(ra.shard, { index: 2, count: 3 });
    assert.equal(ra.slice, { first: 9, last: 12 });
    assert.equal([ra.shard, ra.slice, answer(ra)], [rb.shard, rb.slice, answer(rb)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('explore --scheduler random: merging 1, 3 or 4 shards equals one run over all the seeds', async () => {
  const seeds = { first: 1, last: 6 };
  const whole = await runCampaign(randomSpec, { seeds, shard: { index: 0, count: 1 }, workers: 2 });
  assert.is(whole.counts.units, 6);
  assert.equal(
    whole.findings.map((f) => [f.kind, f.hits, f.first]),
    [['foreign-entry-purged', 6, 1]],
    'the purge window, once, with every seed that hit it',
  );
  assert.match(whole.findings[0]!.reproduce!, /^npx perfemu explore --scenario purge-window --scheduler random --seed 1 --budget 200 --kernel 6.18$/);
  // the counts are those of the explorer run seed by seed
  const scn = scenarioByName('purge-window')!;
  let schedules = 0;
  for (let s = 1; s <= 6; s++)
    schedules += explore(scn, { scheduler: 'random', seed: s, bound: 2, maxSchedules: 200, maxMs: 1e12, kernel: '6.18', strict: false }).schedules;
  assert.is(whole.counts.schedules, schedules);
  const again = explore(scn, { scheduler: 'random', seed: whole.findings[0]!.first, bound: 2, maxSchedules: 200, maxMs: 1e12, kernel: '6.18', strict: false });
  assert.equal(again.found?.shrunk, whole.findings[0]!.schedule, 'the reproduce command finds the same shrunk schedule');
  for (const n of [1, 3, 4]) {
    const m = await shardsMerged(randomSpec, seeds, n);
    assert.equal([m.missing, m.overlapping], [[], []], `${n} shards`);
    assert.equal(answer(m), answer(whole), `${n} shards`);
  }
});

test('explore exhaustive: the subtrees are disjoint and cover the single-process space; merging 1, 3 or 4 shards equals one run', async () => {
  // without a finding to stop at, the subtrees' schedules add up to the single search's
  const strict: CampaignSpec = {
    command: 'explore',
    options: { ...(randomSpec.options as object), scheduler: 'exhaustive', strict: true, budget: 100_000, subtrees: 8 } as never,
  };
  const single = explore(scenarioByName('purge-window')!, {
    scheduler: 'exhaustive',
    seed: 1,
    bound: 2,
    maxSchedules: 1e9,
    maxMs: 1e12,
    kernel: '6.18',
    strict: true,
  });
  assert.ok(single.exhausted);
  const split = await runCampaign(strict, { seeds: null, shard: { index: 0, count: 1 }, workers: 2 });
  assert.ok(split.counts.units! >= 8, `${split.counts.units} subtrees`);
  assert.equal([split.counts.schedules, split.counts.decisions, split.counts.unitsExhausted], [single.schedules, single.decisions, split.counts.units]);
  const prefixes = campaignSubtrees(strict as Extract<CampaignSpec, { command: 'explore' }>).map((p) => p.join(','));
  assert.is(new Set(prefixes).size, prefixes.length, 'distinct prefixes');
  for (const a of prefixes) for (const b of prefixes) if (a !== b) assert.not.ok(`${b},`.startsWith(`${a},`), `${a} is not a prefix of ${b}`);

  const whole = await runCampaign(exhaustiveSpec, { seeds: null, shard: { index: 0, count: 1 }, workers: 2 });
  assert.ok(
    whole.findings.some((f) => f.violation),
    'the broken update is found',
  );
  assert.ok(
    whole.findings.every((f) => f.reproduce === null && f.replay !== null),
    'subtrees reproduce through replay files',
  );
  const scn = scenarioByName('update-race')!;
  for (const f of whole.findings) {
    const again = replay(scn, { version: f.replay!.kernel, strict: f.replay!.strict, inject: f.replay!.inject! }, f.replay!.schedule);
    assert.ok(
      again.findings.some((x) => x.kind === f.kind),
      `${f.signature} replays`,
    );
  }
  for (const n of [1, 3, 4]) {
    const m = await shardsMerged(exhaustiveSpec, null, n);
    assert.equal([m.missing, m.overlapping], [[], []], `${n} shards`);
    assert.equal(answer(m), answer(whole), `${n} shards`);
  }
});

test('stress with --ops: merging 1, 3 or 4 shards (some of them empty) equals one run over the seeds', async () => {
  const seeds = { first: 5, last: 6 };
  const whole = await runCampaign(stressSpec, { seeds, shard: { index: 0, count: 1 }, workers: 2 });
  assert.equal([whole.counts.units, whole.counts.actions, whole.counts.cleanRuns], [2, 2 * 2 * 40, 2]);
  assert.equal(whole.findings, []);
  for (const n of [1, 3, 4]) {
    const m = await shardsMerged(stressSpec, seeds, n);
    assert.equal([m.missing, m.overlapping], [[], []], `${n} shards`);
    assert.equal(answer(m), answer(whole), `${n} shards`);
  }
});

test('perfemu merge: one campaign only, missing and overlapping slices reported, exit 1 on a violation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perfemu-merge-'));
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, timeout: 60_000 });
  try {
    const base = [
      'campaign',
      'explore',
      '--scenario',
      'update-race',
      '--inject',
      'update-load-store',
      '--scheduler',
      'random',
      '--budget',
      '50',
      '--seeds',
      '1..6',
      '--workers',
      '1',
    ];
    for (const k of [0, 1]) assert.is(run([...base, '--shard', `${k}/2`, '--out', 'res', '--json']).status, 1, 'a shard that finds a violation exits 1');
    const files = readdirSync(join(dir, 'res'))
      .map((f) => join('res', f))
      .sort();
    assert.equal(
      files.map((f) => f.replace(/^res\//, '')),
      ['perfemu-campaign-explore-update-race-shard-0-of-2.json', 'perfemu-campaign-explore-update-race-shard-1-of-2.json'],
    );
    const all = run(['merge', ...files]);
    assert.is(all.status, 1, all.stderr);
    assert.match(all.stdout, /every seed covered exactly once \(6\)/);
    assert.match(all.stdout, /VIOLATION: /);
    // one bug reached by several shrunk schedules is several findings: a line counts them by kind
    const kinds = /(\d+) distinct finding\(s\).*\n {2}of (\d+) kind\(s\): (.*) \(one kind by several shrunk schedules\)/.exec(all.stdout);
    assert.ok(kinds, all.stdout);
    assert.ok(Number(kinds![2]) < Number(kinds![1]));
    assert.is(
      kinds![3]!.split(', ').reduce((s, x) => s + Number(x.split(' ')[1]), 0),
      Number(kinds![1]),
      'the kinds add up to the findings',
    );
    assert.match(
      all.stdout,
      /reproduce: npx perfemu explore --scenario update-race --scheduler random --seed \d+ --budget 50 --kernel 6.18 --inject update-load-store/,
    );
    const j = JSON.parse(run(['merge', ...files, '--json']).stdout) as { counts: { units: number }; findings: { hits: number }[] };
    assert.is(j.counts.units, 6);
    assert.is(j.findings.reduce((s, f) => s + f.hits, 0) >= 1, true);

    const half = run(['merge', files[0]!]);
    assert.match(half.stdout, /INCOMPLETE: seeds not covered by any file: 4\.\.6/);
    const twice = run(['merge', files[0]!, files[0]!]);
    assert.is(twice.status, 2);
    assert.match(twice.stdout, /OVERLAP: seeds covered by more than one file: 1\.\.3/);

    assert.is(run(['campaign', 'explore', '--scheduler', 'random', '--budget', '50', '--seeds', '1..3', '--workers', '1', '--out', 'other']).status, 0);
    const mixed = run(['merge', files[0]!, join('other', readdirSync(join(dir, 'other'))[0]!)]);
    assert.is(mixed.status, 2);
    assert.match(mixed.stderr, /is not of the campaign of .*: options differ: scenario "update-race" vs "purge-window"/);
    const junk = run(['merge', join(root, 'package.json')]);
    assert.is(junk.status, 2);
    assert.match(junk.stderr, /not a campaign result file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('perfemu campaign usage errors name the option and the rule (exit 2)', async () => {
  const cases: [string[], RegExp][] = [
    [['campaign', 'explore', '--scheduler', 'random'], /--seeds A\.\.B is required/],
    [['campaign', 'explore', '--scheduler', 'random', '--seeds', '9..1'], /--seeds must be A\.\.B/],
    [['campaign', 'explore', '--seeds', '1..5'], /--seeds applies to random, pct and stress/],
    [['campaign', 'explore', '--scheduler', 'random', '--seeds', '1..5', '--budget', '5s'], /--budget must be a number of schedules/],
    [['campaign', 'explore', '--scheduler', 'random', '--seeds', '1..5', '--shard', '4/4'], /--shard must be K\/N/],
    [['campaign', 'explore', '--scheduler', 'random', '--seeds', '1..5', '--ops', '5'], /--ops is a stress option/],
    [['campaign', 'stress', '--seeds', '1..5', '--scenario', 'ring'], /--scenario is an explore option/],
    [['campaign', 'fuzz', '--seeds', '1..5'], /campaign takes explore or stress first/],
    [['merge'], /merge takes one or more FILEs/],
  ];
  const error = console.error;
  try {
    for (const [args, re] of cases) {
      let stderr = '';
      console.error = (...a: unknown[]) => void (stderr += `${a.join(' ')}\n`);
      const status = await run(args); // in-process: main.ts as the bin runs it
      console.error = error;
      assert.is(status, 2, args.join(' '));
      assert.match(stderr, re, args.join(' '));
    }
  } finally {
    console.error = error;
  }
});

test('runCampaign names a bad option in its error (Node codes)', async () => {
  const shard = { index: 0, count: 1 };
  const bad: [() => Promise<unknown>, string, RegExp][] = [
    [() => runCampaign(randomSpec, { seeds: null, shard, workers: 1 }), 'ERR_INVALID_ARG_VALUE', /"seeds"/],
    [() => runCampaign(randomSpec, { seeds: { first: 1, last: 2 }, shard: { index: 2, count: 2 }, workers: 1 }), 'ERR_INVALID_ARG_VALUE', /"shard"/],
    [() => runCampaign(randomSpec, { seeds: { first: 1, last: 2 }, shard, workers: 0 }), 'ERR_OUT_OF_RANGE', /"workers"/],
    [
      () =>
        runCampaign(
          { command: 'explore', options: { ...(randomSpec.options as object), scenario: 'nope' } as never },
          { seeds: { first: 1, last: 2 }, shard, workers: 1 },
        ),
      'ERR_INVALID_ARG_VALUE',
      /scenario/,
    ],
  ];
  for (const [call, code, re] of bad) {
    try {
      await call();
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as { code?: string }).code, code, String(err));
      assert.match((err as Error).message, re);
    }
  }
});

test('the progress line says seeds done, the rate, the findings so far and the time left', () => {
  const line = campaignProgressLine(
    { unitsDone: 1500, units: 20000, elapsedMs: 9000, perSec: 5824.4, findings: 1, hits: 1500, violations: 0, etaMs: 111_000 },
    'seeds',
    'schedules/s',
  );
  assert.is(line.trim(), 'seeds 1,500/20,000 (7%)  5,824 schedules/s  findings 1 distinct in 1,500 seeds  ETA 1m51s');
  assert.match(
    campaignProgressLine({ unitsDone: 0, units: 8, elapsedMs: 1, perSec: 0, findings: 2, hits: 3, violations: 2, etaMs: null }, 'seeds', 'ops/s'),
    /0 ops\/s {2}findings 2 distinct \(2 violation\(s\)\) in 3 seeds {2}ETA \?$/,
  );
});

test('deploy/: the Kubernetes manifest parses as YAML and is an Indexed Job whose --shards equals its completions', () => {
  // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, walked by hand
  const job = parseYaml(readFileSync(join(root, 'deploy/kubernetes/campaign-job.yaml'), 'utf8')) as Record<string, any>;
  assert.equal([job.apiVersion, job.kind], ['batch/v1', 'Job']);
  assert.is(job.spec.completionMode, 'Indexed');
  assert.ok(job.spec.completions >= 2 && job.spec.parallelism >= 1);
  assert.is(job.spec.template.spec.restartPolicy, 'Never');
  const c = job.spec.template.spec.containers[0];
  const args = (c.args as unknown[]).map(String);
  assert.equal(args.slice(0, 2), ['campaign', 'explore']);
  assert.is(Number(args[args.indexOf('--shards') + 1]), job.spec.completions, '--shards = completions');
  assert.not.ok(args.includes('--shard'), 'the index comes from JOB_COMPLETION_INDEX');
  assert.ok(args.includes('--json'), 'results to stdout for kubectl logs');
  // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, walked by hand
  const ci = parseYaml(readFileSync(join(root, 'deploy/ci/github-actions.yml'), 'utf8')) as Record<string, any>;
  const shards = ci.jobs.shard.strategy.matrix.shard as number[];
  assert.equal(
    shards,
    shards.map((_, i) => i),
  );
  assert.ok(ci.jobs.merge.needs === 'shard');
  assert.ok((ci.jobs.merge.steps as { run?: string }[]).some((s) => /npx perfemu merge/.test(s.run ?? '')));
  assert.throws(() => parseYaml('a: 1\n  b: 2\n'), /indentation/, 'the reader rejects what it does not understand');
});

test('deploy/Dockerfile: node:20-slim, built from the repository contents, no network step but npm ci, entry perfemu', () => {
  const lines = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(
    lines.filter((l) => /^FROM /i.test(l)),
    ['FROM node:20-slim'],
  );
  const runs = lines.filter((l) => /^RUN /i.test(l)).map((l) => l.slice(4).trim());
  assert.ok(runs.includes('npm ci'));
  for (const r of runs.filter((x) => x !== 'npm ci')) {
    assert.not.match(r, /\b(npm|npx|yarn|pnpm|curl|wget|apt|apt-get|apk|git|pip)\b|https?:/, `no network in: RUN ${r}`);
  }
  assert.not.ok(
    lines.some((l) => /^ADD /i.test(l)),
    'no ADD (it can fetch URLs)',
  );
  for (const c of lines.filter((l) => /^COPY /i.test(l))) {
    assert.not.match(c, /--from|https?:/, c);
    for (const src of c.split(/\s+/).slice(1, -1)) assert.ok(src === './' || readdirSync(root).includes(src), `${src} is in the repository`);
  }
  assert.ok(
    lines.some((l) => /^ENTRYPOINT \[.*bin\/perfemu\.js"\]$/.test(l)),
    'entry perfemu',
  );
});

test.run();
