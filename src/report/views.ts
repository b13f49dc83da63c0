/**
 * The report's drawings, each from the run's recorded data: the demux diagram (CPUs -> slots ->
 * perf events -> consumer apps), the slot timeline, the stress series, and the interleaving
 * swim lanes. Every node and lane carries data-* attributes with the numbers it shows, so a
 * test can read them back from the DOM.
 */
import type { DemoRun } from '../demo/demo.js';
import { accessText, isKeyAccess } from '../explore/explore.js';
import type { TraceStep } from '../explore/runner.js';
import { COLOR, PALETTE, esc, legend, n, ownerColor, svg } from './html.js';

// ---------------------------------------------------------------------------------------
// Demux diagram

export function demuxDiagram(run: DemoRun): string {
  const rows = run.final.rows;
  const apps = [...new Set(rows.map((r) => r.app))];
  const rowH = 64;
  const h = 60 + rows.length * rowH;
  // text sits inside boxes or left of the straight CPU -> slot line: no curve crosses a label
  const x = { cpu: 20, slot: 300, event: 480, app: 850 };
  const evW = 200;
  const evH = 48;
  const y = (i: number): number => 50 + i * rowH;
  const maxW = Math.max(1, ...rows.map((r) => r.written));
  const width = (v: number): number => 1.5 + (6 * Math.log1p(v)) / Math.log1p(maxW);
  const exited = new Map(run.exitedAppEvents.map((e) => [e.cpu, e]));
  const parts: string[] = [];
  parts.push(
    `<text x="${x.cpu}" y="24" font-weight="600">CPU</text><text x="${x.slot}" y="24" font-weight="600">map slot</text>` +
      `<text x="${x.event}" y="24" font-weight="600">perf event</text><text x="${x.app}" y="24" font-weight="600">consumer app</text>`,
  );
  const appY = new Map(
    apps.map((a) => {
      const ys = rows.filter((r) => r.app === a).map((r) => y(rows.indexOf(r)));
      return [a, ys.reduce((s, v) => s + v, 0) / ys.length];
    }),
  );
  rows.forEach((r, i) => {
    const yy = y(i);
    const purged = r.event === null;
    const gone = exited.get(r.cpu);
    const evId = r.event ?? gone?.id ?? null;
    // CPU -> slot: what the CPU wrote, or what failed
    parts.push(
      `<line x1="${x.cpu + 80}" y1="${yy + 14}" x2="${x.slot}" y2="${yy + 14}" stroke="${COLOR.ok}" stroke-width="${width(r.written)}"><title>CPU ${r.cpu} wrote ${n(r.written)} records through slot ${r.slot}</title></line>`,
    );
    parts.push(`<text x="${x.cpu + 92}" y="${yy + 6}">${n(r.written)} written</text>`);
    // failures in the failure colour; outputs into no ring in grey (on 4.7/4.8 they returned 0)
    const noRingText = run.kernel === '4.7' || run.kernel === '4.8' ? 'returned 0 into no ring' : 'ENOSPC, no ring';
    const failed = [
      r.enoent > 0 ? `<tspan fill="${COLOR.enoent}" font-weight="600">${n(r.enoent)} ENOENT</tspan>` : '',
      r.noRing > 0 ? `<tspan fill="#555" data-no-ring="">${n(r.noRing)} ${noRingText}</tspan>` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    if (failed) parts.push(`<text x="${x.cpu + 92}" y="${yy + 42}">${failed}</text>`);
    parts.push(
      `<g data-node="cpu-${r.cpu}" data-written="${r.written}" data-enoent="${r.enoent}"><rect x="${x.cpu}" y="${yy}" width="80" height="28" rx="4" fill="#eef4fb" stroke="#0072B2"/>` +
        `<text x="${x.cpu + 12}" y="${yy + 18}">CPU ${r.cpu}</text></g>`,
    );
    parts.push(
      `<g data-node="slot-${r.slot}" data-state="${purged ? 'empty' : 'held'}"><rect x="${x.slot}" y="${yy}" width="120" height="28" rx="4" fill="${purged ? 'url(#hatch)' : '#fff'}" stroke="${purged ? COLOR.enoent : '#333'}" ${purged ? 'stroke-dasharray="5 3"' : ''}/>` +
        `<text x="${x.slot + 8}" y="${yy + 18}">slot ${r.slot}${purged ? ': purged' : `: ${esc(r.owner ?? '?')}'s`}</text></g>`,
    );
    if (evId !== null) {
      const alive = !purged || (gone?.alive ?? false);
      if (!purged) parts.push(`<line x1="${x.slot + 120}" y1="${yy + 14}" x2="${x.event}" y2="${yy + 14}" stroke="#333" stroke-width="1.5"/>`);
      const ay = appY.get(r.app)!;
      const held = !purged && r.appState === 'exited';
      parts.push(
        `<g data-node="event-${evId}" data-alive="${alive}"><rect x="${x.event}" y="${yy}" width="${evW}" height="${evH}" rx="4" fill="${alive ? '#fff' : '#eee'}" stroke="${alive ? '#333' : '#999'}" ${alive ? '' : 'stroke-dasharray="3 3"'}/>` +
          `<text x="${x.event + 8}" y="${yy + 15}" ${alive ? '' : 'fill="#666"'}>#${evId} on CPU ${r.cpu}${alive ? '' : ' (freed)'}</text>` +
          `<text x="${x.event + 8}" y="${yy + 29}">${n(r.received)} received</text>` +
          (held ? `<text x="${x.event + 8}" y="${yy + 43}" fill="${COLOR.enoent}" font-weight="600">still held after its app exited</text>` : '') +
          `</g>`,
      );
      parts.push(
        `<path data-curve="" d="M${x.event + evW},${yy + 14} C${x.event + evW + 70},${yy + 14} ${x.app - 70},${ay + 14} ${x.app},${ay + 14}" fill="none" stroke="${held ? COLOR.enoent : COLOR.ok}" stroke-width="${width(r.received)}" ${alive && !held ? '' : 'stroke-dasharray="6 4"'}><title>${esc(r.app)} received ${n(r.received)} records from CPU ${r.cpu}</title></path>`,
      );
    }
  });
  for (const a of apps) {
    const r = rows.find((q) => q.app === a)!;
    const received = rows.filter((q) => q.app === a).reduce((s, q) => s + q.received, 0);
    const ay = appY.get(a)!;
    const gone = r.appState === 'exited';
    parts.push(
      `<g data-node="app-${esc(a.replace(/^app-/, ''))}" data-name="${esc(a)}" data-received="${received}" data-state="${gone ? 'exited' : 'running'}">` +
        `<rect x="${x.app}" y="${ay}" width="200" height="28" rx="14" fill="${gone ? '#f3f3f3' : '#e9f7f1'}" stroke="${gone ? '#777' : COLOR.ok}" ${gone ? 'stroke-dasharray="5 3"' : ''}/>` +
        `<text x="${x.app + 10}" y="${ay + 18}">${esc(a)}${gone ? ' (exited)' : ''}: ${n(received)}</text></g>`,
    );
  }
  const desc = rows
    .map(
      (r) =>
        `CPU ${r.cpu} writes through slot ${r.slot}: ${r.event === null ? `slot empty (purged), ${n(r.enoent)} outputs failed with ENOENT` : `perf event ${r.event} owned by ${r.owner}, read by ${r.app}${r.appState === 'exited' ? ' (exited)' : ''}`}; ${n(r.written)} written, ${n(r.received)} received`,
    )
    .join('. ');
  return svg(1060, h, `Per-CPU demux on kernel ${run.kernel}`, desc, parts.join('\n'), `data-kernel="${run.kernel}"`);
}

/** the demux legend, listing only what the runs' diagrams draw */
export function demuxLegend(runs: DemoRun[]): string {
  const rows = runs.flatMap((r) => r.final.rows.map((x) => ({ ...x, run: r })));
  const purged = rows.filter((x) => x.event === null);
  const held = rows.some((x) => x.event !== null && x.appState === 'exited');
  return legend(
    [
      { color: COLOR.ok, label: 'records flowing (line width grows with the count)', on: true },
      { color: COLOR.enoent, label: 'failed outputs (ENOENT: the slot is empty)', on: rows.some((x) => x.enoent > 0) },
      { color: COLOR.enoent, label: 'events still held after their app exited (dashed)', on: held },
      {
        color: COLOR.noRing,
        label: 'outputs into no ring: nobody maps the event any more (4.7/4.8 return 0, 5.10+ ENOSPC)',
        on: rows.some((x) => x.noRing > 0),
      },
      { color: COLOR.empty, label: 'purged slot (hatched, dashed border)', pattern: true, on: purged.length > 0 },
      { color: '#eee', label: 'freed perf event (grey, dashed)', on: purged.some((x) => x.run.exitedAppEvents.some((e) => e.cpu === x.cpu && !e.alive)) },
    ].filter((i) => i.on),
  );
}

// ---------------------------------------------------------------------------------------
// Slot timeline

export function emptyTimeline(why: string): string {
  return `<p class="empty" role="status" data-empty="timeline">This run recorded no data over time (${esc(why)}): there is no slot timeline to draw.</p>`;
}

export interface Lane {
  label: string;
  /** per sample: the owner (null = empty) */
  owners: (string | null)[];
  /** per sample, cumulative counters of the CPU writing to this slot (optional) */
  written?: number[];
  failed?: number[];
  /** outputs into a ring nobody maps (not failures on 4.7/4.8: the helper returned 0) */
  noRing?: number[];
  lost?: number[];
}

export interface TimelineText {
  /** what "into no ring" means on this kernel, for the legend */
  noRing?: string;
  /** what the owner names mean, shown under the legend */
  owners?: string;
}

export function slotTimeline(
  times: number[],
  lanes: Lane[],
  marks: { tMs: number; label: string }[],
  title: string,
  exitMs?: { app: string; at: number },
  text: TimelineText = {},
): string {
  const span = times.length ? times[times.length - 1]! - times[0]! : 0;
  if (times.length < 2 || span <= 0) return emptyTimeline('it ended before a second sample was taken');
  const owners = [...new Set(lanes.flatMap((l) => l.owners).filter((o): o is string => o !== null))].sort();
  const left = 90;
  const w = 1000;
  const laneH = 46;
  const t0 = times[0]!;
  const t1 = times[times.length - 1]!;
  const X = (t: number): number => left + ((t - t0) / (t1 - t0)) * (w - left - 20);
  const parts: string[] = [];
  const descs: string[] = [];
  const drawn = new Set<string>(); // what the legend may list
  lanes.forEach((lane, li) => {
    const y = 30 + li * laneH;
    const segs: string[] = [];
    const story: string[] = [];
    for (let i = 0; i + 1 < times.length; i++) {
      const o = lane.owners[i] ?? null;
      if (o === null) drawn.add('empty');
      segs.push(
        `<rect x="${X(times[i]!).toFixed(1)}" y="${y}" width="${Math.max(0.5, X(times[i + 1]!) - X(times[i]!)).toFixed(1)}" height="18" fill="${o === null ? 'url(#hatch)' : ownerColor(owners, o)}"><title>${esc(`${lane.label}: ${o ?? 'empty'} from ${(times[i]! / 1000).toFixed(2)} s`)}</title></rect>`,
      );
      const prev = i > 0 ? (lane.owners[i - 1] ?? null) : undefined;
      if (prev !== undefined && prev !== o) {
        const kind = prev === null ? 'update' : o === null ? (exitMs && prev === exitMs.app && times[i]! >= exitMs.at ? 'purge' : 'delete') : 'replace';
        const mx = X(times[i]!);
        const sym =
          kind === 'update'
            ? `<path d="M${mx - 5},${y - 2} L${mx},${y - 10} L${mx + 5},${y - 2} Z" fill="${COLOR.ok}"/>`
            : kind === 'replace'
              ? `<path d="M${mx},${y - 12} L${mx + 5},${y - 6} L${mx},${y} L${mx - 5},${y - 6} Z" fill="${COLOR.replace}"/>`
              : `<path d="M${mx - 5},${y - 11} L${mx + 5},${y - 1} M${mx + 5},${y - 11} L${mx - 5},${y - 1}" stroke="${COLOR.enoent}" stroke-width="2.5"/>`;
        drawn.add(kind);
        segs.push(
          `<g data-mark="${kind}"><title>${esc(`${kind} of ${lane.label} at ${(times[i]! / 1000).toFixed(2)} s (${prev ?? 'empty'} → ${o ?? 'empty'})`)}</title>${sym}</g>`,
        );
        story.push(`${kind} at ${(times[i]! / 1000).toFixed(2)} s to ${o ?? 'empty'}`);
      }
      if (lane.written) {
        const dw = lane.written[i + 1]! - lane.written[i]!;
        const df = (lane.failed?.[i + 1] ?? 0) - (lane.failed?.[i] ?? 0);
        const dn = (lane.noRing?.[i + 1] ?? 0) - (lane.noRing?.[i] ?? 0);
        const dl = (lane.lost?.[i + 1] ?? 0) - (lane.lost?.[i] ?? 0);
        const tot = Math.max(1, dw + df + dn + dl);
        const bx = X(times[i]!);
        const bw = Math.max(0.5, X(times[i + 1]!) - bx - 0.5);
        let by = y + 40;
        for (const [v, c, what] of [
          [dw, COLOR.ok, 'written'],
          [df, COLOR.enoent, 'failed'],
          [dn, COLOR.noRing, 'noRing'],
          [dl, COLOR.lost, 'lost'],
        ] as const) {
          const hh = (16 * v) / tot;
          if (v > 0) {
            drawn.add(what);
            segs.push(
              `<rect data-bar="${what}" x="${bx.toFixed(1)}" y="${(by - hh).toFixed(1)}" width="${bw.toFixed(1)}" height="${hh.toFixed(1)}" fill="${c}"><title>${n(v)} ${what === 'noRing' ? 'into no ring' : what}</title></rect>`,
            );
          }
          by -= hh;
        }
      }
    }
    const first = lane.owners[0] ?? null;
    const label = `${lane.label}: ${first ?? 'empty'} at the start${story.length ? `; ${story.join('; ')}` : '; no change'}`;
    descs.push(label);
    parts.push(
      `<g data-lane="${esc(lane.label.replace(/ /g, '-'))}" role="group" aria-label="${esc(label)}"><text x="8" y="${y + 14}">${esc(lane.label)}</text>${segs.join('')}</g>`,
    );
  });
  for (const m of marks) {
    parts.push(
      `<g data-event-line="${esc(m.label)}"><line x1="${X(m.tMs)}" y1="14" x2="${X(m.tMs)}" y2="${30 + lanes.length * laneH}" stroke="#333" stroke-dasharray="4 3"/><text x="${X(m.tMs) + 4}" y="12">${esc(m.label)}</text></g>`,
    );
  }
  const axisY = 30 + lanes.length * laneH;
  for (let k = 0; k <= 5; k++) {
    const t = t0 + ((t1 - t0) * k) / 5;
    parts.push(`<text x="${X(t) - 10}" y="${axisY + 14}">${(t / 1000).toFixed(1)} s</text>`);
  }
  // the legend lists only what is drawn
  const removal = ['purge', 'delete'].filter((k) => drawn.has(k)).join(' or ');
  const items: { color: string; label: string; pattern?: boolean; key: string }[] = [
    ...owners.map((o) => ({ color: ownerColor(owners, o), label: `slot owned by ${o}`, key: 'owner' })),
    { color: COLOR.empty, label: 'empty slot', pattern: true, key: 'empty' },
    { color: COLOR.ok, label: '▲ update: an empty slot filled', key: 'update' },
    { color: COLOR.replace, label: '◆ replace: a new entry over another', key: 'replace' },
    { color: COLOR.enoent, label: `✕ ${removal}: the slot emptied`, key: removal ? 'removal' : 'none' },
    { color: COLOR.ok, label: 'bars: outputs written', key: 'written' },
    { color: COLOR.enoent, label: 'bars: outputs failed (ENOENT: empty slot)', key: 'failed' },
    { color: COLOR.noRing, label: `bars: ${text.noRing ?? 'outputs into a ring nobody maps'}`, key: 'noRing' },
    { color: COLOR.lost, label: 'bars: outputs lost (ring full)', key: 'lost' },
  ];
  if (removal) drawn.add('removal');
  const lg = legend(items.filter((i) => i.key === 'owner' || drawn.has(i.key)));
  const note = text.owners ? `<p class="legend-note" data-legend-note="">${esc(text.owners)}</p>` : '';
  return lg + note + svg(w, axisY + 24, title, descs.join('. '), parts.join('\n'));
}

// ---------------------------------------------------------------------------------------
// Stress series: foreign entries purged (and violations) over time

export function seriesChart(points: { tMs: number; value: number }[], title: string, what: string, color = PALETTE[0]!): string {
  if (points.length < 2) return `<p class="empty" role="status">Too few samples to draw ${esc(what)} over time.</p>`;
  const w = 700;
  const h = 180;
  const t1 = points[points.length - 1]!.tMs;
  const max = Math.max(1, ...points.map((p) => p.value));
  const X = (t: number): number => 50 + (t / t1) * (w - 70);
  const Y = (v: number): number => h - 30 - (v / max) * (h - 50);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${X(p.tMs).toFixed(1)},${Y(p.value).toFixed(1)}`).join(' ');
  const body =
    `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>` +
    `<line x1="50" y1="${h - 30}" x2="${w - 20}" y2="${h - 30}" stroke="#333"/><line x1="50" y1="20" x2="50" y2="${h - 30}" stroke="#333"/>` +
    `<text x="6" y="${Y(max) + 4}">${n(max)}</text><text x="30" y="${h - 26}">0</text>` +
    `<text x="${w - 60}" y="${h - 10}">${(t1 / 1000).toFixed(1)} s</text>`;
  return svg(
    w,
    h,
    title,
    `${what} rises from ${n(points[0]!.value)} to ${n(points[points.length - 1]!.value)} over ${(t1 / 1000).toFixed(1)} s`,
    body,
    `data-series="${esc(what)}"`,
  );
}

// ---------------------------------------------------------------------------------------
// Interleaving swim lanes

/** the access where the interleaving bites: the first one of an operation resumed after a preemption */
export function highlightStep(trace: TraceStep[]): number {
  for (let i = trace.length - 1; i > 0; i--) if (trace[i]!.depth < trace[i - 1]!.depth) return trace[i]!.step;
  return trace.at(-1)?.step ?? -1;
}

export function swimLanes(trace: TraceStep[], title: string, all = false): string {
  if (trace.length === 0) return `<p class="empty" role="status">The schedule has no shared-memory access to show.</p>`;
  const hi = highlightStep(trace);
  const key = trace.filter((s) => all || isKeyAccess(s) || s.step === hi);
  const shown = key.slice(0, 240);
  const hiStep = key.find((s) => s.step === hi);
  if (hiStep && !shown.includes(hiStep)) shown.push(hiStep); // the telling access is always drawn
  const actors = [...new Set(trace.map((s) => s.actor))];
  // each box is as wide as its longest line (never clipped); the page scrolls sideways for a
  // long trace instead of shrinking it (7 px per character of 12 px text, with a margin)
  const lines = (s: TraceStep): string[] => [`#${s.step} ${s.access}`, s.word.replace('map 0 ', ''), accessText(s) || 'bytes'];
  const colW = Math.max(118, ...shown.flatMap(lines).map((l) => l.length * 7 + 20));
  const laneH = 58;
  const left = 90;
  const w = left + shown.length * colW + 20;
  const h = 40 + actors.length * laneH;
  const parts: string[] = [];
  actors.forEach((a, i) => {
    const y = 30 + i * laneH;
    parts.push(
      `<g data-lane="actor-${esc(a)}"><rect x="0" y="${y - 4}" width="${w}" height="${laneH - 6}" fill="${i % 2 ? '#fafafa' : '#f1f5f9'}"/><text x="8" y="${y + 26}" font-weight="600">${esc(a)}</text></g>`,
    );
  });
  shown.forEach((s, j) => {
    const i = actors.indexOf(s.actor);
    const x = left + j * colW;
    const y = 30 + i * laneH;
    const isHi = s.step === hi;
    const [l1, l2, what] = lines(s) as [string, string, string];
    const label = `step ${s.step}: ${s.actor} ${s.op}: ${s.access} ${s.word}: ${what}${isHi ? ' (where the interleaving shows)' : ''}`;
    parts.push(
      `<g data-step="${s.step}"${isHi ? ' data-highlight="true"' : ''} role="img" aria-label="${esc(label)}"><title>${esc(label)}</title>` +
        `<rect x="${x}" y="${y}" width="${colW - 8}" height="42" rx="4" fill="${isHi ? '#fde7dc' : '#fff'}" stroke="${isHi ? COLOR.highlight : '#888'}" stroke-width="${isHi ? 3 : 1}"/>` +
        `<text x="${x + 4}" y="${y + 13}">${esc(l1)}</text><text x="${x + 4}" y="${y + 26}">${esc(l2)}</text><text x="${x + 4}" y="${y + 38}">${esc(what)}</text></g>`,
    );
  });
  const desc = `${shown.length} accesses in order; actors ${actors.join(', ')}; highlighted: step ${hi}`;
  const cut =
    key.length > shown.length
      ? `<p class="note">The first ${shown.length} of ${key.length} accesses are drawn; the terminal's trace (perfemu replay FILE) has them all.</p>`
      : '';
  return (
    legend([
      { color: '#fde7dc', label: 'the access where the interleaving shows (thick red border)' },
      { color: '#fff', label: 'a shared-memory access (hover for details)' },
    ]) +
    cut +
    `<div style="overflow-x:auto" data-scroll="">${svg(w, h, title, desc, parts.join('\n'), 'style="max-width:none"')}</div>`
  );
}
