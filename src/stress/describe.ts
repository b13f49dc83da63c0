/** Violations in words a person can read (the stress report, the explorer's findings). */
import type { Violation } from '../kernel/violation.js';
import { PROVENANCE_REASONS } from './invariants/provenance.js';
import { REFERENCE_REASONS } from './invariants/references.js';

/** `withTime`: prefix the time since the kernel's creation */
export function describeViolation(v: Violation, withTime = true): string {
  const [a, b, c, d] = v.args;
  const at = withTime ? `${(v.timeMs / 1000).toFixed(3)}s` : '';
  switch (v.kind) {
    case 'references': return `${at} references: ${REFERENCE_REASONS[a] ?? a} (index ${b}: ${c}, want ${d})`;
    case 'provenance': return `${at} provenance on CPU ${v.cpu}: ${PROVENANCE_REASONS[a] ?? a}`;
    case 'use-after-free-entry': return `${at} CPU ${v.cpu} saw entry ${a} recycled inside its read-side section (gen ${b} -> ${c})`;
    case 'use-after-free-event': return `${at} CPU ${v.cpu} saw perf event ${a} freed inside its read-side section`;
    case 'release-foreign': return `${at} release of map file ${d} purged map ${a} slot ${b}, owned by file ${c}, which it had checked`;
    case 'release-left': return `${at} map ${a} slot ${b} still holds an entry of map file ${c}, released`;
    case 'leaked-event': return `${at} map ${a} slot ${b} keeps perf event index ${d} alive for map file ${c}, gone (the 4.7 leak)`;
    case 'conservation': return `${at} ring of perf event index ${a}: ${b} samples written, ${c} read or unread`;
    default: return `${at} ${v.kind} (${v.args.join(', ')})`;
  }
}
