/**
 * What a new user trips on (issue 15): files they hand us, paths we write, numbers and options
 * the CLI must refuse rather than ignore, the statistic it prints.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { median } from '../src/cli/stress.js';
import { AppPool, CpuPool, Kernel, PerfBuffer, encodeRecord, sampleAlignedPayload, verifyRecord } from '../src/index.js';
import { VERSIONS } from './fixtures/scenario.js';
import { cliInProcess, spawnCli as spawnBin } from './fixtures/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const benchJs = fileURLToPath(new URL('../bench/index.js', import.meta.url));
const spawnCli = (...args: string[]) => spawnBin(args);
const cli = cliInProcess;
const dir = mkdtempSync(join(tmpdir(), 'perfemu-usertrips-'));
const oneLine = (s: string) => s.trim().split('\n').length === 1;

const good = {
  format: 'perfemu-schedule',
  version: 1,
  scenario: 'purge-window',
  kernel: '6.18',
  strict: false,
  inject: null,
  schedule: [0, 1],
  expect: { kind: 'foreign-entry-purged', violation: false, detail: 'x' },
};

test('(1) a replay file is checked field by field before it runs: one line naming the field, exit 2', async () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['kernel 9.9', { ...good, kernel: '9.9' }, '"kernel" must be one of'],
    ['kernel null', { ...good, kernel: null }, '"kernel" must be one of'],
    ['no schedule', { ...good, schedule: undefined }, '"schedule" must be an array'],
    ['no expect', { ...good, expect: undefined }, '"expect" must be an object'],
    ['schedule a string', { ...good, schedule: '01' }, '"schedule" must be an array'],
    ['schedule with junk', { ...good, schedule: ['x', -1] }, '"schedule"[0] must be an integer >= 0'],
    ['negative choice', { ...good, schedule: [0, -1] }, '"schedule"[1] must be an integer >= 0'],
    ['inject nosuch', { ...good, inject: 'nosuch' }, '"inject" must be null or one of'],
    ['strict yes', { ...good, strict: 'yes' }, '"strict" must be true or false'],
    ['expect.kind missing', { ...good, expect: { violation: false, detail: '' } }, '"expect.kind"'],
    ['unknown field', { ...good, shedule: [] }, 'unknown field "shedule"'],
    ['scenario', { ...good, scenario: 'nope' }, '"scenario" must be one of'],
  ];
  for (const [name, doc, msg] of cases) {
    const f = join(dir, `bad-${name.replace(/\W/g, '_')}.json`);
    writeFileSync(f, JSON.stringify(doc));
    const r = await cli('replay', f);
    assert.is(r.status, 2, `${name}: exit 2, got ${r.status}: ${r.stderr}`);
    assert.ok(oneLine(r.stderr), `${name}: one line, got ${r.stderr}`);
    assert.match(r.stderr, msg, name);
    assert.not.match(r.stderr, /TypeError| {4}at /, `${name}: no stack trace`);
  }
  writeFileSync(join(dir, 'bad.json'), '{ not json');
  const r = spawnCli('replay', join(dir, 'bad.json'));
  assert.equal([r.status, oneLine(r.stderr)], [2, true], r.stderr);
});

test('(1) exit codes are distinct and documented: 3 for a replay that does not reproduce', async () => {
  const f = join(dir, 'nothing.json');
  writeFileSync(f, JSON.stringify({ ...good, schedule: [], expect: { kind: 'no-such-finding', violation: true, detail: '' } }));
  assert.is(spawnCli('replay', f).status, 3);
  const h = await cli('--help');
  assert.match(h.stdout, /Exit codes: 0 ok; 1 a violation.*2 bad usage.*\n3 a replay/);
  assert.match((await cli('stress', '--help')).stdout, 'Exit codes: 0 ok; 1');
});

test('(2) every output path is checked writable before the run starts', async () => {
  const cases: string[][] = [
    ['demo', '--report', '/proc/x.html'],
    ['stress', '--duration', '60', '--report', '/proc/x.html'],
    ['stress', '--duration', '60', '--report', join(dir, 'no/such/dir/x.html')],
    ['explore', '--budget', '600s', '--report', '/proc/x.html'],
    ['explore', '--budget', '600s', '--out', '/proc/x.json'],
  ];
  for (const args of cases) {
    const t0 = Date.now();
    const r = await cli(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(oneLine(r.stderr) && /cannot be written/.test(r.stderr), r.stderr);
    assert.ok(Date.now() - t0 < 30_000, 'refused before the run');
  }
  const f = join(dir, 'ok.json');
  writeFileSync(f, JSON.stringify({ ...good, schedule: [] }));
  const r = await cli('replay', f, '--report', '/proc/x.html');
  assert.equal([r.status, /cannot be written/.test(r.stderr)], [2, true], r.stderr);
  const b = spawnSync(process.execPath, [benchJs, '--out', '/proc/x.json', '--only', 'system'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal([b.status, /cannot be written/.test(b.stderr)], [2, true], b.stderr);
  // a writable path is left as it was: not created by the check
  const later = join(dir, 'later.html');
  const s = await cli('explore', '--scenario', 'nope', '--report', later);
  assert.equal([s.status, /--scenario must be one of/.test(s.stderr)], [2, true], s.stderr);
  assert.not.ok(existsSync(later));
});

test('(3) negative numbers give the range error, whichever form', async () => {
  for (const [cmd, opt, msg] of [
    ['story', '--cpus', '--cpus must be an integer from 1 to 64'],
    ['demo', '--duration', '--duration must be an integer from 0 to 600'],
    ['stress', '--seed', '--seed must be an integer from 0 to'],
    ['explore', '--bound', '--bound must be an integer from 0 to 10'],
  ] as const) {
    for (const args of [[opt, '-3'], [`${opt}=-3`]]) {
      const r = await cli(cmd, ...args);
      assert.is(r.status, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.match(r.stderr, "got '-3'");
    }
  }
});

test('(4) an option that does not apply is an error, not silence', async () => {
  const cases: [string[], string][] = [
    [['stress', '--inject', 'all', '--report', join(dir, 'r.html')], '--report does not apply with --inject all'],
    [['stress', '--inject', 'all', '--ops', '100'], '--ops does not apply with --inject all'],
    [['stress', '--seeds', '3'], '--seeds does not apply without --inject all'],
    [['stress', '--inject', 'double-drop', '--seeds', '3'], '--seeds does not apply without --inject all'],
    [['explore', '--seed', '3'], '--seed does not apply to the exhaustive scheduler'],
    [['explore', '--scheduler', 'random', '--bound', '3'], '--bound does not apply to the random scheduler'],
    [['replay', 'x.json', '--json', '--all'], '--all does not apply with --json'],
    [['demo', '--kernel', '4.7', '--no-compare'], '--no-compare does not apply with --kernel 4.7'],
    [['stress', '--kernel', '4.7', '--strict'], '--strict does not apply on kernel 4.7'],
    [['stress', '--inject', 'leak-4.7', '--window-us', '5'], '--window-us does not apply on kernel 4.7'],
    [['explore', '--kernel', '4.7', '--strict'], '--strict does not apply on kernel 4.7'],
    [
      ['campaign', 'stress', '--inject', 'all', '--seeds', '1..2'],
      '--inject all is not a campaign: give one fault (perfemu stress --inject all runs each in turn)',
    ],
    ...(['stress', 'explore', 'campaign explore', 'campaign stress'] as const).map((c): [string[], string] => [
      [...c.split(' '), '--kernel', '4.7', '--inject', 'purge-no-owner-check', ...(c.startsWith('campaign') ? ['--seeds', '1..2'] : [])],
      '--inject purge-no-owner-check needs --kernel 4.8, 5.10 or 6.18 (it breaks the release purge, which 4.7 does not have); got --kernel 4.7',
    ]),
  ];
  for (const [args, msg] of cases) {
    const r = await cli(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  assert.match((await cli('stress', '--help')).stdout, /Usage: perfemu stress .*--window-us N.*--seeds N.*--report FILE/);
  assert.match((await cli('demo', '--help')).stdout, /Usage: perfemu demo .*--report FILE/);
});

test('(4) --inject all runs the correct kernel on the same seeds even with the default --seeds 1; --duration caps each run', () => {
  const r = spawnCli('stress', '--inject', 'all', '--duration', '1', '--seed', '7', '--cpus', '2', '--apps', '1', '--json');
  const doc = JSON.parse(r.stdout) as { capMs: number; correctKernel: { seed: number; ok: boolean }[]; faults: { seeds: number }[] };
  assert.is(doc.capMs, 1000);
  assert.equal(
    doc.correctKernel.map((c) => [c.seed, c.ok]),
    [[7, true]],
  );
  assert.ok(doc.faults.every((f) => f.seeds === 1));
});

test('(4) --inject all on kernel 4.7 marks the purge fault n/a rather than escaped: it neither runs nor counts against the result', () => {
  const r = spawnCli('stress', '--inject', 'all', '--kernel', '4.7', '--duration', '2', '--seed', '3', '--cpus', '2', '--apps', '1', '--json');
  const doc = JSON.parse(r.stdout) as {
    ok: boolean;
    faults: { fault: string; seeds: number; detected: number; notApplicable?: string; reproduce: string[] }[];
    correctKernel: { ok: boolean }[];
  };
  const purge = doc.faults.find((f) => f.fault === 'purge-no-owner-check')!;
  assert.is(purge.notApplicable, 'not on 4.7: it breaks the release purge, which 4.7 does not have');
  assert.is(purge.detected, 0);
  assert.equal(purge.reproduce, [], 'no run, so no command to reproduce one');
  assert.equal(
    doc.faults.filter((f) => f.notApplicable !== undefined).map((f) => f.fault),
    ['purge-no-owner-check'],
  );
  const others = doc.faults.filter((f) => f.notApplicable === undefined);
  assert.is(doc.ok, others.every((f) => f.detected === f.seeds) && doc.correctKernel.every((c) => c.ok));
  assert.is(r.status, doc.ok ? 0 : 1);
});

test('(5) the median of an even count is the mean of the middle two, not the maximum', async () => {
  assert.is(median([3, 1]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.is(median([5, 1, 9]), 5);
  assert.is(median([]), null);
});

test('(6) hooks report the public ids: map id as inspect() shows it, file id as fileOf returns it', async () => {
  const kernel = Kernel.create({ cpus: 2, version: '6.18' });
  const app = kernel.process('app');
  const F = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 2 });
  const ev = app.perfEventOpen({ cpu: 0 });
  app.bpf.mapUpdateElem(F, 0, ev);
  const mapId = kernel.inspect().maps[0]!.id;
  const fileId = app.fileOf(F);
  const eventId = kernel.inspect().perfEvents[0]!.id;
  const seen: Record<string, unknown>[] = [];
  kernel.hooks = {
    purgeLoaded: (i) => seen.push({ hook: 'purgeLoaded', map: i.map }),
    purged: (i) => seen.push({ hook: 'purged', map: i.map, file: i.file }),
    released: (i) => seen.push({ hook: 'released', map: i.map, file: i.file }),
    ringFreed: (i) => seen.push({ hook: 'ringFreed', event: i.event }),
  };
  app.close(F);
  app.exit();
  kernel.rcuBarrier();
  kernel.hooks = {};
  assert.equal(seen, [
    { hook: 'purgeLoaded', map: mapId },
    { hook: 'purged', map: mapId, file: fileId },
    { hook: 'released', map: mapId, file: fileId },
    { hook: 'ringFreed', event: eventId },
  ]);
  assert.ok(mapId !== 0 || fileId !== 1, 'the ids differ from the table indices');
});

test('(7) wrongly typed arguments are ERR_INVALID_ARG_TYPE; unknown option keys name the key and the nearest valid one', async () => {
  const kernel = Kernel.create({ cpus: 2 });
  const app = kernel.process('app');
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return [(e as { code?: string }).code, (e as Error).message];
    }
    return ['no error', ''];
  };
  for (const fn of [
    () => app.close('3' as never),
    () => app.dup('3' as never),
    () => app.fileOf('3' as never),
    () => app.mmap('3' as never),
    () => app.bpf.mapDeleteElem('3' as never, 0),
    () => app.bpf.mapUpdateElem(3, 0, '4' as never),
    () => app.poll(['3' as never]),
    () => app.ioctl('3' as never, 'PERF_EVENT_IOC_ENABLE'),
    () => app.cpuOf('3' as never),
  ])
    assert.is(code(fn)[0], 'ERR_INVALID_ARG_TYPE', fn.toString());
  assert.is(code(() => app.close(99))[0], 'EBADF', 'a number that is no fd is still EBADF');
  const mf = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 2 });
  const ev = app.perfEventOpen({ cpu: 0 });
  for (const fn of [
    () => app.consumeRing(ev, 'x' as never),
    () => app.epollCtlAdd(3, '4' as never),
    () => app.ioctl(ev, 3 as never),
    () => PerfBuffer.open(app, '3' as never),
    () => PerfBuffer.open(app, mf, { onSample: 3 as never }),
    () => PerfBuffer.open(null as never, mf),
    () => AppPool.start(kernel, { pinPath: 3 as never, apps: [{ name: 'x', cpus: [0] }] }),
    () => Kernel.attach(3 as never),
    () => verifyRecord('x' as never),
    () => encodeRecord('x' as never, 1, 1, 16),
    () => sampleAlignedPayload('64' as never),
  ])
    assert.is(code(fn)[0], 'ERR_INVALID_ARG_TYPE', fn.toString());
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 31]) {
    const [c2, m2] = code(() => sampleAlignedPayload(bad));
    assert.is(c2, 'ERR_OUT_OF_RANGE', String(bad));
    assert.match(m2!, '"bytes"');
  }
  let [c, m] = code(() => Kernel.create({ cpus: 2, strcit: true } as never));
  assert.is(c, 'ERR_INVALID_ARG_VALUE');
  assert.match(m!, "unknown key 'strcit'; did you mean 'strict'?");
  [c, m] = code(() => Kernel.create({ cpus: 2, limits: { maxMap: 3 } } as never));
  assert.match(m!, "unknown key 'maxMap'; did you mean 'maxMaps'?");
  [c, m] = code(() => app.perfEventOpen({ cpu: 0, page: 8 } as never));
  assert.match(m!, "unknown key 'page'; did you mean 'pages'?");
  [c, m] = code(() => app.bpf.mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntry: 1 } as never));
  assert.match(m!, "unknown key 'maxEntry'; did you mean 'maxEntries'?");
  [c, m] = code(() => kernel.process('x', { privileges: true } as never));
  assert.match(m!, "unknown key 'privileges'; did you mean 'privileged'?");
  [c, m] = code(() => {
    kernel.hooks = { purgeLoad: () => {} } as never;
  });
  assert.match(m!, "unknown key 'purgeLoad'; did you mean 'purgeLoaded'?");
  [c, m] = code(() => PerfBuffer.open(app, mf, { onSampel: () => {} } as never));
  assert.match(m!, "unknown key 'onSampel'; did you mean 'onSample'?");
  [c, m] = code(() => AppPool.start(kernel, { pinPath: '/sys/fs/bpf/x', apps: [{ name: 'x', cpus: [0] }], pollMS: 3 } as never));
  assert.match(m!, "unknown key 'pollMS'; did you mean 'pollMs'?");
  [c, m] = code(() => AppPool.start(kernel, { pinPath: '/sys/fs/bpf/x', apps: [{ name: 'x', cpu: [0] }] } as never));
  assert.match(m!, "The \"apps[0]\" object has an unknown key 'cpu'; did you mean 'cpus'?");
  const prog = app.bpf.progLoad({ maps: [mf] });
  [c, m] = code(() => CpuPool.start(kernel, { prog, program: { records: 1 }, stopTimeout: 5 } as never));
  assert.match(m!, "unknown key 'stopTimeout'; did you mean 'stopTimeoutMs'?");
  [c, m] = code(() => CpuPool.start(kernel, { prog, program: { record: 1 } } as never));
  assert.match(m!, "unknown key 'record'; did you mean 'records'?");
  assert.is(c, 'ERR_INVALID_ARG_VALUE');
  app.exit();
});

test('(10) docs stay inside the repo: no ../shared, SPEC, BENCH.md or scenario ids; semantics and API pages; LICENSE; maps carry their sources', async () => {
  const files: string[] = [join(root, 'README.md')];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js|md)$/.test(e.name)) files.push(p);
    }
  };
  for (const d of ['docs', 'src', 'bin', 'bench', 'workers', 'test']) walk(join(root, d));
  const self = join(root, 'test', 'usertrips.test.ts'); // this test names the words it looks for
  const bad = files
    .filter((f) => f !== self)
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((l, i) => [f, i + 1, l] as const),
    )
    .filter(([, , l]) => /\.\.\/shared|SPEC|BENCH\.md|DESIGN|TOOLCHAIN|\bA[0-9]{1,2}\b/.test(l));
  assert.equal(
    bad.map(([f, n, l]) => `${f.slice(root.length)}:${n}: ${l.trim()}`),
    [],
  );
  const sem = readFileSync(join(root, 'docs/semantics.md'), 'utf8');
  for (const v of VERSIONS) assert.ok(sem.includes(v), v);
  for (const h of ['## Lifetimes', '## The release purge', '## The purge window', '## Errno ladders', '## The ring buffer', '## Race windows'])
    assert.ok(sem.includes(h), h);
  for (const fn of ['perf_event_fd_array_release', '__bpf_perf_event_output', 'bpf_map_release', 'perf_output_put_handle']) assert.ok(sem.includes(fn), fn);
  const api = readFileSync(join(root, 'docs/api.md'), 'utf8');
  for (const w of [
    'AppPool.start',
    'onSample?: (cpu: number, data: Uint8Array, size: number)',
    'onLost?: (cpu: number, lost: number)',
    'purgeLoaded?(',
    'outputLoaded?(',
    'outputReserved?(',
    'purged?(',
    'released?(',
    'ringFreed?(',
  ]) {
    assert.ok(api.includes(w), w);
  }
  assert.match(readFileSync(join(root, 'README.md'), 'utf8'), 'docs/semantics.md');
  assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /^MIT License/);
  const maps: string[] = [];
  const walkDist = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walkDist(join(d, e.name));
      else if (e.name.endsWith('.js.map')) maps.push(join(d, e.name));
    }
  };
  walkDist(join(root, 'dist/src'));
  for (const m of maps) {
    const j = JSON.parse(readFileSync(m, 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    assert.ok(j.sourcesContent?.length === j.sources.length && j.sourcesContent.every((s) => typeof s === 'string'), `${m} ships its sources`);
  }
});

test('(10) every usage line names every option its help lists', async () => {
  for (const c of ['demo', 'stress', 'explore', 'replay', 'story', 'explain']) {
    const h = (await cli(c, '--help')).stdout;
    const usage = /Usage: (.*)/.exec(h)![1]!;
    const opts = [...h.matchAll(/^ {2}(--[\w-]+)/gm)].map((m) => m[1]!).filter((o) => o !== '--help');
    for (const o of opts) assert.ok(usage.includes(o), `${c}: usage lacks ${o}: ${usage}`);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
