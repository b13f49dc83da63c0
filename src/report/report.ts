/**
 * `--report FILE.html` for demo, stress, explore and replay: one self-contained page per run,
 * drawn from what the run recorded.
 */
import { writeFileSync } from 'node:fs';
import type { DemoRun } from '../demo/demo.js';
import { formatSchedule, type ExploreResult } from '../explore/explore.js';
import type { Execution, TraceStep } from '../explore/runner.js';
import type { StressReport } from '../stress/engine.js';
import { esc, n, page, table, type Section } from './html.js';
import { describeViolation } from '../invariants/registry.js';
import { demuxDiagram, demuxLegend, emptyTimeline, seriesChart, slotTimeline, swimLanes, type Lane } from './views.js';

export function demoReport(runs: DemoRun[]): string {
  const main = runs[0]!;
  const sections: Section[] = [];
  sections.push({
    id: 'demux',
    title: 'Per-CPU demux: CPU → slot → perf event → consumer app',
    html:
      `<p class="note">Each CPU's program calls <code>bpf_perf_event_output</code> with <code>BPF_F_CURRENT_CPU</code>, so CPU <i>c</i> writes through slot <i>c</i> into the perf event its consumer app put there. Midway, ${esc(main.exitedApp)} exits while the CPUs keep writing.</p>` +
      demuxLegend(runs) +
      `<div class="sidebyside">${runs.map((r) => `<div data-run="${r.kernel}"><h3>kernel ${esc(r.kernel)}${r.kernel === '4.7' ? ' — before the fix: the leak' : " — the fix: the exited app's slots are purged"}</h3>${demuxDiagram(r)}<p>${esc(readingLine(r))}</p></div>`).join('')}</div>`,
  });
  for (const r of runs) {
    const times = r.timeline.map((s) => s.tMs);
    const lanes: Lane[] = r.timeline[0]
      ? r.timeline[0].slots.map((_, slot) => ({
          label: `slot ${slot}`,
          owners: r.timeline.map((s) => s.slots[slot] ?? null),
          written: r.timeline.map((s) => s.written[slot]!),
          failed: r.timeline.map((s) => s.enoent[slot]!),
          noRing: r.timeline.map((s) => s.noRing[slot]!),
          lost: r.timeline.map((s) => s.lost[slot]!),
        }))
      : [];
    sections.push({
      id: `timeline-${r.kernel}`,
      title: `Slot timeline, kernel ${r.kernel}`,
      html:
        `<p>One lane per slot, coloured by the app whose map file owns the entry; the bars under each lane are the outputs of that slot's CPU per interval.</p>` +
        (r.durationMs === 0
          ? emptyTimeline('its duration was 0 s')
          : slotTimeline(
              times,
              lanes,
              r.exitAtMs ? [{ tMs: r.exitAtMs, label: `${r.exitedApp} exits` }] : [],
              `Slot timeline on kernel ${r.kernel}`,
              { app: r.exitedApp, at: r.exitAtMs },
              {
                noRing: OLD_OUTPUT.includes(r.kernel)
                  ? `outputs that returned 0 into no ring (nobody maps it: on ${r.kernel} the record is dropped without an error)`
                  : `outputs into no ring (nobody maps it): ENOSPC on ${r.kernel}`,
                owners:
                  "app-N: the consumer app whose map file (its own fd from BPF_OBJ_GET of the pinned map) put the entry in the slot; that file is the slot's owner." +
                  (lanes.some((l) => l.owners.some((x) => x?.startsWith('file '))) ? ' file N: a map file with id N that no app claims.' : ''),
              },
            )),
    });
  }
  sections.push({
    id: 'numbers',
    title: 'The numbers',
    html: runs
      .map(
        (r) =>
          `<h3>kernel ${esc(r.kernel)}</h3>${table(
            ['CPU', 'slot', 'perf event', 'slot owner', 'reader app', 'written', 'received', 'lost', 'ENOENT', 'no ring'],
            r.final.rows.map((x) => [
              x.cpu,
              x.slot,
              x.event === null ? '(empty)' : `#${x.event}`,
              esc(x.owner ?? '-'),
              esc(`${x.app}${x.appState === 'exited' ? ' (exited)' : ''}`),
              x.written,
              x.received,
              x.lost,
              x.enoent,
              x.noRing,
            ]),
            [true, true, false, false, false, true, true, true, true, true],
          )}<p>${r.badRecords === 0 ? '<span class="good">0 torn or misrouted records</span>' : `<span class="bad">${r.badRecords} torn or misrouted records</span>`}; conservation ${r.conservation.every((c) => c.ok) ? '<span class="good">holds</span>' : '<span class="bad">FAILS</span>'}; ${r.violations} kernel violations.</p>`,
      )
      .join(''),
  });
  return page(
    `perfemu demo — per-CPU demux on kernel ${runs.map((r) => r.kernel).join(' and ')}`,
    `${main.cpus} CPUs, ${main.apps} consumer apps, ${(main.durationMs / 1000).toFixed(1)} s, ${n(main.rate)} outputs/s per CPU; ${main.exitedApp} exits midway`,
    sections,
  );
}

function readingLine(r: DemoRun): string {
  const held = r.exitedAppEvents.filter((e) => e.heldBySlot);
  const rows = r.final.rows.filter((x) => x.app === r.exitedApp);
  if (held.length)
    return `${r.exitedApp} exited, yet the map still holds its perf events ${held.map((e) => `#${e.id}`).join(', ')}: they stay alive, and its CPUs' outputs go into rings nobody maps (${n(rows.reduce((s, x) => s + x.noRing, 0))} dropped).`;
  return `${r.exitedApp}'s slots were purged when its map file was released; its CPUs' outputs since then failed with ENOENT (${n(rows.reduce((s, x) => s + x.enoent, 0))}); its perf events were freed after a grace period.`;
}

/** kernels whose bpf_perf_event_output returns 0 when the event has no ring (5.10+: -ENOSPC) */
const OLD_OUTPUT = ['4.7', '4.8'];

export function stressReport(r: StressReport): string {
  const o = r.options;
  const sections: Section[] = [];
  sections.push({
    id: 'invariants',
    title: 'Invariants',
    html:
      table(
        ['invariant', 'result', 'count', 'first detection', 'rule'],
        r.invariants.map((i) => [
          esc(i.name),
          i.result === 'violated' ? `<span class="bad">violated</span>` : i.result === 'ok' ? `<span class="good">ok</span>` : esc(i.result),
          i.count,
          i.firstMs === null ? '-' : `${(i.firstMs / 1000).toFixed(3)} s`,
          esc(i.note ? `${i.rule} (${i.note})` : i.rule),
        ]),
        [false, false, true, false, false],
      ) +
      (o.inject
        ? `<p class="note">Injected fault: <code>${esc(o.inject)}</code> — ${
            r.ok
              ? '<span class="bad">not caught</span>'
              : `caught by ${esc(
                  r.invariants
                    .filter((i) => i.result === 'violated')
                    .map((i) => i.name)
                    .join(', '),
                )}`
          }.</p>`
        : '') +
      `<p>Reproduce: <code data-reproduce>${esc(r.reproduce)}</code></p>`,
  });
  if (r.violations.length) {
    // the same first violations the terminal prints
    sections.push({
      id: 'violations',
      title: `First violations (${r.violations.length > 8 ? `8 of ${r.violations.length}${r.violations.length === 50 ? '+' : ''}` : r.violations.length})`,
      html: `<ol data-violations="">${r.violations
        .slice(0, 8)
        .map((v) => `<li>${esc(describeViolation(v))}</li>`)
        .join('')}</ol>`,
    });
  }
  sections.push({
    id: 'counters',
    title: 'What ran',
    html: table(
      ['what', 'count'],
      [
        ['actions (syscalls and ring reads)', r.ops],
        ['actions per second', r.opsPerSec],
        ['records written by the CPUs', r.cpu.outputs],
        ['records lost to full rings', r.cpu.lost],
        ['outputs into unmapped rings', r.cpu.noRing],
        ['records verified by readers', r.recordsVerified],
        ['pause audits', r.audits],
        ['rings audited at free', r.ringsChecked],
        ['foreign entries purged (the purge window)', r.foreignEntriesPurged],
        ...Object.entries(r.cpu.errors).map(([k, v]) => [`helper returned ${esc(k)}`, v] as [string, number]),
      ],
      [false, true],
    ),
  });
  const times = r.series.map((s) => s.tMs);
  sections.push({
    id: 'foreign',
    title: 'Foreign entries purged over time',
    html:
      `<p>A purge that removed an entry another frontend had just put in the slot (the load-then-exchange window of kernel/bpf/arraymap.c perf_event_fd_array_release; see docs/semantics.md, "The purge window"): counted, not a violation of the kernel's contract${o.strict ? '; with the strict purge it must stay 0' : ''}.</p>` +
      seriesChart(
        r.series.map((s) => ({ tMs: s.tMs, value: s.foreign })),
        'Foreign entries purged over time',
        'foreign entries purged',
      ),
  });
  const slots = r.series[0]?.slots.length ?? 0;
  sections.push({
    id: 'timeline',
    title: `Slot timeline of the shared map (${r.series.length} samples)`,
    html: slotTimeline(
      times,
      Array.from({ length: slots }, (_, i) => ({ label: `slot ${i}`, owners: r.series.map((s) => (s.slots[i] ? `file ${s.slots[i]}` : null)) })),
      [],
      'Slot owners of the shared map',
      undefined,
      {
        owners:
          "file N: the map file with id N (one open map fd's file, as Process.fileOf returns it) whose update put the entry in the slot: the slot's owner, whose release purges it.",
      },
    ),
  });
  return page(
    `perfemu stress — kernel ${o.kernel}${o.strict ? ' (strict purge)' : ''}${o.inject ? `, fault ${o.inject}` : ''}: ${r.ok ? 'clean' : 'VIOLATED'}`,
    `${o.cpus} CPUs, ${o.apps} app workers + the main thread, ${(r.elapsedMs / 1000).toFixed(1)} s, seed ${o.seed}, max_entries ${o.maxEntries}`,
    sections,
  );
}

export function exploreReport(r: ExploreResult, summary: string): string {
  const o = r.options;
  const sections: Section[] = [
    {
      id: 'search',
      title: 'Search',
      html:
        `<p>Scenario <b>${esc(r.scenario)}</b>: ${esc(summary)}. Scheduler ${esc(r.scheduler)}${r.scheduler === 'exhaustive' ? ` (preemption bound ${o.bound})` : ` (seed ${o.seed})`}: ${n(r.schedules)} schedules, ${n(r.decisions)} decision points${r.exhausted ? ', the bounded space exhausted' : ''}.</p>` +
        (r.found
          ? `<p class="${r.found.finding.violation ? 'bad' : 'note'}">${r.found.finding.violation ? 'Violation' : 'Found'}: ${esc(r.found.finding.kind)} — ${esc(r.found.finding.detail)}</p><p>Shrunk schedule: <code>${esc(formatSchedule(r.found.shrunk))}</code> (${r.found.preemptions} preemption${r.found.preemptions === 1 ? '' : 's'}).</p>`
          : `<p class="note">Found nothing${r.exhausted ? ' within the bound' : ' within the budget'}.</p>`),
    },
  ];
  if (r.found) sections.push({ id: 'interleaving', title: 'The interleaving', html: interleavingHtml(r.found.trace, r.found.results) });
  return page(
    `perfemu explore — ${r.scenario} on kernel ${o.kernel}${o.strict ? ' (strict)' : ''}${o.inject ? `, fault ${o.inject}` : ''}`,
    `${r.found ? `${r.found.finding.kind} found` : 'nothing found'} after ${n(r.schedules)} schedules`,
    sections,
  );
}

export function replayReport(scenario: string, kernel: string, schedule: number[], ex: Execution, expectKind: string): string {
  const got = ex.findings.find((f) => f.kind === expectKind);
  return page(
    `perfemu replay — ${scenario} on kernel ${kernel}`,
    `schedule ${formatSchedule(schedule)}: ${got ? `reproduced ${got.kind}` : `NOT reproduced (expected ${expectKind})`}`,
    [
      {
        id: 'result',
        title: 'Result',
        html: got
          ? `<p class="${got.violation ? 'bad' : 'note'}">${esc(got.kind)}: ${esc(got.detail)}</p>`
          : `<p class="bad">The recorded finding (${esc(expectKind)}) did not show.</p>`,
      },
      { id: 'interleaving', title: 'The interleaving', html: interleavingHtml(ex.trace ?? [], ex.results) },
    ],
  );
}

function interleavingHtml(trace: TraceStep[], results: string[]): string {
  return (
    `<p>Actors are lanes; each box is one shared-memory access, in the order they happened (slots, entries, rings and RCU words; hover a box for its details). An operation that preempted another runs between two of its accesses.</p>` +
    swimLanes(trace, 'Interleaving of the shrunk schedule') +
    `<p>Operations in the order they finished: ${esc(results.join(', '))}</p>`
  );
}

export function writeReport(path: string, html: string): void {
  writeFileSync(path, html);
}
