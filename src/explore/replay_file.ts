/**
 * The replay file's schema, checked field by field before anything runs: a file edited by hand
 * (or by another build) is refused with one line naming the field and what it must be, rather
 * than failing somewhere inside the replay.
 */
import { KERNEL_VERSIONS } from '../kernel/behaviour.js';
import { FAULTS, faultByName, fault_run_kernel } from '../kernel/faults.js';
import { REPLAY_FORMAT, REPLAY_VERSION } from './explore.js';
import { SCENARIOS } from './scenarios.js';

const FIELDS = ['format', 'version', 'scenario', 'kernel', 'strict', 'inject', 'schedule', 'expect'] as const;
const EXPECT_FIELDS = ['kind', 'violation', 'detail'] as const;

const show = (v: unknown): string => (v === undefined ? 'missing' : `got ${JSON.stringify(v)}`);

/** the first thing wrong with `doc` as a replay file ("field: must be ...; got ..."), or null */
export function replayFileProblem(doc: unknown): string | null {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return `the file must hold a JSON object; ${show(doc)}`;
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!(FIELDS as readonly string[]).includes(k)) return `unknown field "${k}" (fields: ${FIELDS.join(', ')})`;
  if (d.format !== REPLAY_FORMAT) return `"format" must be "${REPLAY_FORMAT}"; ${show(d.format)}`;
  if (d.version !== REPLAY_VERSION) return `"version" must be ${REPLAY_VERSION}; ${show(d.version)}`;
  if (!SCENARIOS.some((s) => s.name === d.scenario)) return `"scenario" must be one of ${SCENARIOS.map((s) => s.name).join(', ')}; ${show(d.scenario)}`;
  if (!(KERNEL_VERSIONS as readonly unknown[]).includes(d.kernel))
    return `"kernel" must be one of ${KERNEL_VERSIONS.map((v) => `"${v}"`).join(', ')}; ${show(d.kernel)}`;
  if (typeof d.strict !== 'boolean') return `"strict" must be true or false; ${show(d.strict)}`;
  if (d.inject !== null && !FAULTS.some((f) => f.name === d.inject))
    return `"inject" must be null or one of ${FAULTS.map((f) => f.name).join(', ')}; ${show(d.inject)}`;
  // the combinations perfemu explore refuses, refused here too (one rule: fault_run_kernel)
  const fault = d.inject === null ? undefined : faultByName(d.inject as string)!;
  const run = fault_run_kernel(fault, d.kernel as (typeof KERNEL_VERSIONS)[number], true);
  if ('problem' in run) {
    const want = run.want.map((v) => `"${v}"`).join(' or ');
    return run.problem === 'own'
      ? `"inject" ${fault!.name} is kernel ${run.want[0]} itself; "kernel" must be ${want}; got "${d.kernel}"`
      : `"inject" ${fault!.name} needs "kernel" ${want} (${fault!.needs?.why}); got "${d.kernel}"`;
  }
  if (d.strict === true && run.kernel === '4.7') return '"strict" must be false on kernel 4.7 (it has no release purge to make strict)';
  if (!Array.isArray(d.schedule)) return `"schedule" must be an array of choices (integers >= 0); ${show(d.schedule)}`;
  const bad = d.schedule.findIndex((c) => !Number.isSafeInteger(c) || (c as number) < 0);
  if (bad >= 0) return `"schedule"[${bad}] must be an integer >= 0; got ${JSON.stringify(d.schedule[bad])}`;
  const e = d.expect;
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return `"expect" must be an object { kind, violation, detail }; ${show(e)}`;
  const ex = e as Record<string, unknown>;
  for (const k of Object.keys(ex))
    if (!(EXPECT_FIELDS as readonly string[]).includes(k)) return `unknown field "expect.${k}" (fields: ${EXPECT_FIELDS.join(', ')})`;
  if (typeof ex.kind !== 'string' || ex.kind === '') return `"expect.kind" must be a non-empty string; ${show(ex.kind)}`;
  if (typeof ex.violation !== 'boolean') return `"expect.violation" must be true or false; ${show(ex.violation)}`;
  if (typeof ex.detail !== 'string') return `"expect.detail" must be a string; ${show(ex.detail)}`;
  return null;
}
