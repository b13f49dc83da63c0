/**
 * `perfemu lab --report FILE.html`: loss rate and p99 latency against pages per CPU, one curve
 * per wakeup setting (and per swept rate or poll timeout), the limits as dashed lines and the
 * recommended point ringed; the numbers in a table below. Same page rules as the other reports.
 */
import { labColumns } from '../lab/columns.js';
import { fmtRate, isRecommended, swept, wakeupLabel, type LabNotes, type LabResult } from '../lab/lab.js';
import type { LabPoint } from '../lab/lab.js';
import { PALETTE, esc, legend, n, page, svg, table, type Section } from './html.js';

interface Curve {
  label: string;
  color: string;
  points: LabPoint[];
}

function curves(r: LabResult): Curve[] {
  const sw = swept(r.options);
  const by = new Map<string, LabPoint[]>();
  for (const p of r.points) {
    const key = [wakeupLabel(p), sw.poll ? `poll ${p.pollTimeoutMs} ms` : '', sw.rate ? `${n(p.rate)}/s` : ''].filter(Boolean).join(', ');
    by.set(key, [...(by.get(key) ?? []), p]);
  }
  return [...by].map(([label, points], i) => ({ label, color: PALETTE[i % PALETTE.length]!, points: points.sort((x, y) => x.pages - y.pages) }));
}

function chart(r: LabResult, cs: Curve[], metric: 'loss' | 'p99'): string {
  const W = 640;
  const H = 300;
  const L = 84;
  const R = 20;
  const T = 20;
  const B = 50;
  const pages = [...new Set(r.points.map((p) => p.pages))].sort((a, b) => a - b);
  const lo = Math.log2(pages[0]!);
  const hi = Math.log2(pages[pages.length - 1]!);
  const x = (pg: number): number => (hi === lo ? L + (W - L - R) / 2 : L + ((Math.log2(pg) - lo) / (hi - lo)) * (W - L - R));
  const val = (p: LabPoint): number => (metric === 'loss' ? p.lossRate : p.latencyUs.p99);
  const limit = metric === 'loss' ? r.options.maxLoss : r.options.maxLatencyUs;
  const top = Math.max(...r.points.map(val), limit ?? 0) || 1;
  const y = (v: number): number => T + (1 - v / top) * (H - T - B);
  const fmt = (v: number): string => (metric === 'loss' ? fmtRate(v) : v >= 100 ? n(v) : `${Math.round(v * 10) / 10}`);
  let body = `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`;
  for (const pg of pages)
    body += `<line x1="${x(pg)}" y1="${H - B}" x2="${x(pg)}" y2="${H - B + 5}" stroke="#333"/><text x="${x(pg)}" y="${H - B + 18}" text-anchor="middle">${pg}</text>`;
  body += `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">pages per CPU (log scale)</text>`;
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    body += `<line x1="${L - 5}" y1="${y(v)}" x2="${L}" y2="${y(v)}" stroke="#333"/><text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${esc(fmt(v))}</text>`;
  }
  body += `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${metric === 'loss' ? 'loss rate' : 'p99 latency, µs'}</text>`;
  if (limit !== null)
    body += `<line x1="${L}" y1="${y(limit)}" x2="${W - R}" y2="${y(limit)}" stroke="#D55E00" stroke-dasharray="6 4" data-limit="${limit}"/><text x="${W - R}" y="${y(limit) - 4}" text-anchor="end" fill="#D55E00">limit ${esc(fmt(limit))}</text>`;
  cs.forEach((c, ci) => {
    const dash = ci % 2 === 1 ? ' stroke-dasharray="8 3"' : '';
    // a point whose reader delivered nothing has no latency: left off the latency chart, not drawn at 0
    const pts = metric === 'loss' ? c.points : c.points.filter((p) => p.read > 0);
    body += `<polyline fill="none" stroke="${c.color}" stroke-width="2"${dash} points="${pts.map((p) => `${x(p.pages).toFixed(1)},${y(val(p)).toFixed(1)}`).join(' ')}"/>`;
    for (const p of pts) {
      const chosen = isRecommended(r, p);
      body += `<circle cx="${x(p.pages).toFixed(1)}" cy="${y(val(p)).toFixed(1)}" r="4" fill="${c.color}" data-point="${metric}" data-pages="${p.pages}" data-curve="${esc(c.label)}" data-value="${val(p)}"><title>${esc(`${c.label}, ${p.pages} pages: ${metric === 'loss' ? `loss rate ${fmtRate(p.lossRate)}` : `p99 ${p.latencyUs.p99} µs`}`)}</title></circle>`;
      if (chosen)
        body += `<circle cx="${x(p.pages).toFixed(1)}" cy="${y(val(p)).toFixed(1)}" r="10" fill="none" stroke="#000" stroke-width="2" data-recommended="${metric}"/><text x="${x(p.pages) + 12}" y="${y(val(p)) - 10}">recommended</text>`;
    }
  });
  const title = metric === 'loss' ? 'Loss rate against pages per CPU' : 'p99 latency (output to callback) against pages per CPU';
  const desc = cs.map((c) => `${c.label}: ${c.points.map((p) => `${p.pages} pages ${fmt(val(p))}`).join(', ')}`).join('; ');
  return svg(W, H, title, desc, body, `data-chart="${metric}"`);
}

export function labReport(r: LabResult, notes: LabNotes): string {
  const o = r.options;
  const cs = curves(r);
  const sections: Section[] = [];
  sections.push({
    id: 'answer',
    title: 'The answer',
    html: `<p class="${r.recommendation ? 'note' : 'empty'}" data-verdict="${r.recommendation ? 'recommended' : 'none'}">${esc(notes.verdict)}</p>`,
  });
  sections.push({
    id: 'charts',
    title: 'Loss and latency against ring size',
    html:
      legend(cs.map((c) => ({ color: c.color, label: c.label }))) +
      `<div class="sidebyside"><div>${chart(r, cs, 'loss')}</div><div>${chart(r, cs, 'p99')}</div></div>` +
      `<p>Each point is one simulated run of ${o.durationMs} ms of virtual time on the kernel's own ring code; the ringed point is the recommendation.</p>`,
  });
  const cols = labColumns(r);
  sections.push({
    id: 'points',
    title: 'Every point',
    html: table(
      cols.map((c) => c.title),
      r.points.map((p) => cols.map((c) => esc(c.cell(p)))),
      cols.map((c) => c.numeric),
    ),
  });
  const work = o.trace
    ? `trace ${o.trace}`
    : `${o.rate.map(n).join(', ')} records/s per CPU (${o.shape}), ${Array.isArray(o.size) ? `${o.size[0]}-${o.size[1]}` : o.size} B`;
  return page(
    `perfemu lab — ring sizing, ${o.cpus} CPUs, kernel ${o.kernel}`,
    `${work}; reader: ${o.noWakeups ? 'timer-driven' : 'libbpf perf buffer'}, ${o.recordCostNs} ns/record, ${o.wakeupCostNs} ns/wake-up, share ${o.consumerShare}; ${n(r.simulatedRecords)} simulated records; seed ${o.seed}`,
    sections,
  );
}
