/**
 * The columns of the lab's table of points, written once for the terminal (cli/lab.ts) and the
 * HTML report (report/lab.ts): a column added or renamed here shows in both. The sweep columns
 * (poll timeout, rate) appear only when that option was swept.
 */
import { count } from '../format.js';
import { fmtRate, swept, wakeupLabel, type LabPoint, type LabResult } from './lab.js';

export interface LabColumn {
  title: string;
  cell: (p: LabPoint) => string;
  /** right-aligned in the HTML table */
  numeric: boolean;
}

export function labColumns(r: LabResult): LabColumn[] {
  const sw = swept(r.options);
  const col = (title: string, cell: (p: LabPoint) => string, numeric = true): LabColumn => ({ title, cell, numeric });
  return [
    col('pages', (p) => String(p.pages)),
    col('wakeup', (p) => wakeupLabel(p, true), false),
    ...(sw.poll ? [col('poll ms', (p) => String(p.pollTimeoutMs))] : []),
    ...(sw.rate ? [col('rate/CPU', (p) => count(p.rate))] : []),
    col('written', (p) => count(p.written)),
    col('lost', (p) => count(p.lost)),
    col('loss rate', (p) => fmtRate(p.lossRate)),
    col('wakeups', (p) => count(p.wakeups)),
    col('reader busy', (p) => `${(p.consumerBusy * 100).toFixed(1)}%`),
    // '-' where the reader delivered nothing (a timer-driven reader whose timeout the run never reached, say)
    col('p50 µs', (p) => (p.read > 0 ? us(p.latencyUs.p50) : '-')),
    col('p99 µs', (p) => (p.read > 0 ? us(p.latencyUs.p99) : '-')),
    col('max µs', (p) => (p.read > 0 ? us(p.latencyUs.max) : '-')),
    col('stranded', (p) => count(p.stranded.records)),
    col('max wait µs', (p) => us(p.stranded.maxWaitUs)),
    col('rings', (p) => bytes(p.ringBytes)),
    col('inversion µs', (p) => us(p.maxInversionUs)),
  ];
}

function us(x: number): string {
  return x < 100 ? x.toFixed(1) : count(x);
}

function bytes(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.round(b / 1024)} KiB`;
}
