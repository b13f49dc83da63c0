/**
 * The reports do not mislead (issue 15, item 8), checked in headless Chromium: owner colours
 * disjoint from data colours, outputs into no ring as their own grey series, no curve through a
 * label and no label over another, swim-lane text inside its box at full size (the page scrolls
 * instead), the stress report's first violations, >= 100 timeline samples a run, legends that
 * list only what is drawn and explain every name. The page itself has no script: the test adds
 * one to its own copy to measure the rendered boxes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runDemo, type DemoRun } from '../src/demo/demo.js';
import { explore } from '../src/explore/explore.js';
import { scenarioByName } from '../src/explore/scenarios.js';
import { COLOR, OWNER_PALETTE } from '../src/report/html.js';
import { demoReport, exploreReport, stressReport } from '../src/report/report.js';
import { runStress } from '../src/stress/engine.js';
import { findChromium, render } from './fixtures/browser.js';
import { assertNoWorkers } from './fixtures/workers.js';

const chromium = findChromium();
const browserTest = chromium ? test : test.skip;
if (!chromium) console.log('report tests skipped: chromium not found');
const dir = mkdtempSync(join(tmpdir(), 'perfemu-report-trips-'));

interface Measure {
  clipped: string[];
  crossed: string[];
  overlaps: string[];
  scaled: string[];
}

/** in the test's copy only: measure the rendered SVG boxes and write the result into the DOM */
const MEASURE = `<script>
const m = { clipped: [], crossed: [], overlaps: [], scaled: [] };
const inside = (b, r) => b.x >= r.x - 0.5 && b.y >= r.y - 0.5 && b.x + b.width <= r.x + r.width + 0.5 && b.y + b.height <= r.y + r.height + 0.5;
const hit = (a, b) => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;
for (const g of document.querySelectorAll('g[data-step]')) {
  const r = g.querySelector('rect').getBBox();
  for (const t of g.querySelectorAll('text')) if (!inside(t.getBBox(), r)) m.clipped.push(t.textContent);
}
for (const s of document.querySelectorAll('svg')) {
  const texts = [...s.querySelectorAll('text')].filter((t) => t.textContent.trim() !== '');
  const boxes = texts.map((t) => t.getBBox());
  for (const p of s.querySelectorAll('path[data-curve]')) {
    const len = p.getTotalLength();
    for (let i = 0; i <= 200; i++) {
      const pt = p.getPointAtLength((len * i) / 200);
      boxes.forEach((b, j) => { if (pt.x > b.x && pt.x < b.x + b.width && pt.y > b.y && pt.y < b.y + b.height) m.crossed.push(texts[j].textContent); });
    }
  }
  if (s.closest('[data-scroll]') === null) {
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) if (hit(boxes[i], boxes[j])) m.overlaps.push(texts[i].textContent + ' / ' + texts[j].textContent);
  } else if (Math.abs(s.getBoundingClientRect().width - Number(s.getAttribute('width'))) > 1) m.scaled.push(s.getAttribute('width') + ' drawn ' + s.getBoundingClientRect().width);
}
const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(m); document.body.append(pre);
</script>`;

function measure(name: string, html: string): { dom: string; m: Measure } {
  const p = join(dir, name);
  writeFileSync(p, html.replace('</body>', `${MEASURE}</body>`));
  const { dom } = render(chromium!, p);
  const j = /<pre id="measure">([^<]*)<\/pre>/.exec(dom);
  assert.ok(j, 'the measuring script ran');
  return {
    dom,
    m: JSON.parse(
      j![1]!
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>'),
    ) as Measure,
  };
}

const legendColors = (html: string): string[] => [...html.matchAll(/data-color="([^"]+)"/g)].map((x) => x[1]!.toUpperCase());

let runs: DemoRun[] = [];
test('demo runs on 6.18 and 4.7 (short: the timeline must still have >= 100 samples)', async () => {
  const base = { cpus: 4, apps: 2, rate: 5000, size: 32 } as const;
  runs = [await runDemo({ ...base, kernel: '6.18', durationMs: 1200 }), await runDemo({ ...base, kernel: '4.7', durationMs: 600 })];
  for (const r of runs) assert.ok(r.timeline.length >= 100, `${r.kernel}: ${r.timeline.length} samples`);
  assertNoWorkers();
});

browserTest(
  'demo report: owner colours disjoint from data colours; 4.7 no-ring outputs grey, not failures; no curve through a label, no label over another; every legend name explained',
  () => {
    const html = demoReport(runs);
    const data = Object.values(COLOR).map((c) => c.toUpperCase());
    assert.equal(
      OWNER_PALETTE.filter((c) => data.includes(c.toUpperCase())),
      [],
      'owner palette shares no data colour',
    );
    const owners = [...html.matchAll(/<title>slot \d+: (app-\d+) from/g)].length;
    assert.ok(owners > 0, 'owner segments drawn');
    for (const c of html.matchAll(/<rect [^>]*height="18" fill="(#[0-9A-Fa-f]{6})"/g))
      assert.ok(!data.includes(c[1]!.toUpperCase()), `owner segment in data colour ${c[1]}`);
    // 4.7: app-0's CPUs write into rings nobody maps: a grey series of its own, labelled as returning 0
    const old = html.slice(html.indexOf('id="timeline-4.7"'));
    assert.ok(/data-bar="noRing"[^>]*fill="#999999"/.test(old), '4.7: no-ring outputs drawn grey');
    assert.match(old, 'outputs that returned 0 into no ring');
    assert.not.ok(/data-bar="failed"/.test(old.slice(0, old.indexOf('</section>'))), '4.7: nothing drawn as failed (no output failed)');
    assert.match(html, 'data-no-ring=""');
    const { m, dom } = measure('demo.html', html);
    assert.equal(m.crossed, [], 'no curve crosses a label');
    assert.equal(m.overlaps, [], 'no label overlaps another');
    assert.match(dom, 'app-N: the consumer app whose map file');
    // legends list only what is drawn: 6.18 has no output into no ring, 4.7 no ENOENT
    const t618 = html.slice(html.indexOf('id="timeline-6.18"'), html.indexOf('id="timeline-4.7"'));
    assert.not.ok(t618.includes('returned 0 into no ring'), '6.18 legend does not list no-ring outputs it never draws');
    if (!/data-bar="lost"/.test(t618)) assert.not.ok(t618.includes('outputs lost (ring full)'));
    assert.ok(legendColors(t618).length > 0);
  },
);

browserTest('stress report: first violations listed as the terminal prints them; >= 100 samples; legend names explained; only drawn items', async () => {
  const r = await runStress({ cpus: 2, apps: 1, ops: 3000, seed: 5, kernel: '6.18', strict: false, maxEntries: 4, inject: 'double-drop' });
  assert.ok(r.violations.length > 0, 'the fault was caught');
  assert.ok(r.series.length >= 100, `${r.series.length} samples`);
  const html = stressReport(r);
  const { m, dom } = measure('stress.html', html);
  assert.match(dom, 'data-violations=""');
  const { describeViolation } = await import('../src/invariants/registry.js');
  for (const v of r.violations.slice(0, 8))
    assert.ok(dom.includes(describeViolation(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')), describeViolation(v));
  assert.match(dom, 'file N: the map file with id N');
  const tl = html.slice(html.indexOf('id="timeline"'));
  assert.not.ok(tl.includes('bars: outputs'), 'the stress timeline draws no output bars, so its legend lists none');
  assert.equal(m.overlaps, []);
  assertNoWorkers();
});

browserTest('explore report: every swim-lane text inside its box, at full size; a long trace scrolls', () => {
  const scn = scenarioByName('purge-window')!;
  const r = explore(scn, { scheduler: 'exhaustive', seed: 1, bound: 2, maxSchedules: 1000, maxMs: 30_000, kernel: '6.18', strict: false });
  assert.ok(r.found);
  const html = exploreReport(r, scn.summary);
  assert.match(html, 'wrote NULL', 'the telling words are there, not cut');
  const { m } = measure('explore.html', html);
  assert.equal(m.clipped, [], 'no text outside its box');
  assert.equal(m.scaled, [], 'the swim lanes are drawn at their own size (the page scrolls)');
});

test('clean up', () => rmSync(dir, { recursive: true, force: true }));

test.run();
