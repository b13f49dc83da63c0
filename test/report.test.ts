/**
 * The HTML reports, as a person sees them: rendered in headless Chromium, the DOM has one lane
 * per slot and one node per CPU and app, its numbers equal the run's data, and the screenshot
 * is not blank. A run with no data renders a clear message. (Skipped, with the reason printed,
 * where Chromium is not installed; .ci/run installs Debian's chromium.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runDemo, type DemoRun } from '../src/demo/demo.js';
import { explore, replay } from '../src/explore/explore.js';
import { scenarioByName } from '../src/explore/scenarios.js';
import { demoReport, exploreReport, replayReport, stressReport } from '../src/report/report.js';
import { runStress } from '../src/stress/engine.js';
import { attrs, findChromium, pngVariety, render } from './fixtures/browser.js';
import { assertNoWorkers } from './fixtures/workers.js';

const chromium = findChromium();
const dir = mkdtempSync(join(tmpdir(), 'perfemu-report-'));
const file = (name: string, html: string): string => {
  const p = join(dir, name);
  writeFileSync(p, html);
  return p;
};
const count = (dom: string, re: RegExp): number => (dom.match(re) ?? []).length;
const browserTest = chromium ? test : test.skip;
if (!chromium) console.log("report tests skipped: chromium not found (install Debian's chromium; .ci/run does)");

let demoRuns: DemoRun[] = [];
test('a demo run on 6.18 and 4.7 for the report (4 CPUs, 2 apps)', async () => {
  const base = { cpus: 4, apps: 2, rate: 5000, size: 32 } as const;
  demoRuns = [await runDemo({ ...base, kernel: '6.18', durationMs: 1200 }), await runDemo({ ...base, kernel: '4.7', durationMs: 600 })];
  assert.ok(demoRuns[0]!.timeline.length >= 3);
  assertNoWorkers();
});

browserTest('demo report: one node per CPU and app, one lane per slot, the numbers of the run, a drawn page', () => {
  const html = demoReport(demoRuns);
  const { dom, png } = render(chromium!, file('demo.html', html));
  for (const run of demoRuns) {
    const part = dom.slice(dom.indexOf(`data-run="${run.kernel}"`));
    const cpuWritten = attrs(part, /data-node="cpu-/, 'data-written')
      .slice(0, run.cpus)
      .map(Number);
    assert.equal(
      cpuWritten,
      run.final.rows.map((r) => r.written),
      `${run.kernel}: CPU nodes show what was written`,
    );
    const appReceived = attrs(part, /data-node="app-/, 'data-received')
      .slice(0, run.apps)
      .map(Number);
    const want = [...new Set(run.final.rows.map((r) => r.app))].map((a) => run.final.rows.filter((r) => r.app === a).reduce((s, r) => s + r.received, 0));
    assert.equal(appReceived, want, `${run.kernel}: app nodes show what was received`);
  }
  assert.is(count(dom, /data-node="cpu-\d+"/g), 8, 'one node per CPU per run');
  assert.is(count(dom, /data-node="app-\d+"/g), 4, 'one node per app per run');
  assert.is(count(dom, /data-lane="slot-\d+"/g), 8, 'one timeline lane per slot per run');
  assert.match(dom, 'perfemu demo — per-CPU demux on kernel 6.18 and 4.7');
  assert.ok(count(dom, /data-mark="purge"/g) >= 2, "6.18: app-0's two slots purged on the timeline");
  assert.is(
    attrs(dom.slice(dom.indexOf('data-run="4.7"')), /data-node="slot-/, 'data-state')
      .slice(0, 4)
      .join(),
    'held,held,held,held',
    '4.7: every slot still held',
  );
  assert.match(dom, /<title[^>]*>Per-CPU demux on kernel 6\.18<\/title>/);
  assert.ok(pngVariety(png) > 20, 'the screenshot is not blank');
});

browserTest('a demo run with no duration still renders, with a clear message instead of a timeline', async () => {
  const run = await runDemo({ cpus: 2, apps: 2, rate: 1000, size: 32, kernel: '6.18', durationMs: 0 });
  const { dom, png } = render(chromium!, file('empty.html', demoReport([run])));
  assert.match(dom, 'data-empty="timeline"');
  assert.match(dom, 'recorded no data over time');
  assert.is(count(dom, /data-node="cpu-\d+"/g), 2, 'the demux diagram still shows every CPU');
  assert.ok(pngVariety(png) > 5);
  assertNoWorkers();
});

browserTest('stress report: the invariant table, one lane per slot of the shared map, the reproduction command', async () => {
  const r = await runStress({ cpus: 2, apps: 1, ops: 400, seed: 9, kernel: '6.18', strict: false, maxEntries: 3, auditMs: 30 });
  const { dom, png } = render(chromium!, file('stress.html', stressReport(r)));
  assert.is(count(dom, /data-lane="slot-\d+"/g), 3);
  assert.match(dom, `<code data-reproduce="">${r.reproduce}</code>`);
  for (const i of r.invariants) assert.match(dom, `<td>${i.name}</td>`);
  assert.match(dom, /Foreign entries purged over time/);
  assert.ok(pngVariety(png) > 20);
});

browserTest('explore and replay reports: actors as swim lanes, each access a step, the telling step highlighted', () => {
  const scn = scenarioByName('purge-window')!;
  const r = explore(scn, { scheduler: 'exhaustive', seed: 1, bound: 2, maxSchedules: 1000, maxMs: 30_000, kernel: '6.18', strict: false });
  assert.ok(r.found);
  let { dom, png } = render(chromium!, file('explore.html', exploreReport(r, scn.summary)));
  assert.is(count(dom, /data-lane="actor-(A|B)"/g), 2);
  assert.is(count(dom, /data-highlight="true"/g), 1);
  assert.ok(count(dom, /data-step="\d+"/g) >= 5);
  assert.match(dom, 'foreign-entry-purged');
  assert.ok(pngVariety(png) > 20);
  const ex = replay(scn, { version: '6.18', strict: false }, r.found!.shrunk);
  ({ dom, png } = render(chromium!, file('replay.html', replayReport(scn.name, '6.18', r.found!.shrunk, ex, 'foreign-entry-purged'))));
  assert.match(dom, 'reproduced foreign-entry-purged');
  assert.is(count(dom, /data-highlight="true"/g), 1);
  assert.ok(pngVariety(png) > 20);
});

test('clean up', () => {
  rmSync(dir, { recursive: true, force: true });
});

test.run();
