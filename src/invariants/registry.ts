/**
 * The invariant registry, shared by the stress engine and the explorer: every invariant's
 * name, rule, the violation kinds it covers, how each kind reads, and the named reasons some
 * kinds carry. The checks themselves are src/stress/invariants/*; the kernel detects only
 * what a kernel itself would (kernel/violation.ts: use-after-free, refcount underflow, double
 * put, map freed non-empty) and knows nothing of this file.
 *
 * Every violation, the kernel's or an invariant's, goes to the one log in the arena
 * (kernel/violation.ts log_violation) as a code: the kernel's kinds first, then these.
 */
import type { KernelBehaviour } from '../kernel/behaviour.js';
import type { Kctx } from '../kernel/context.js';
import { KERNEL_VIOLATION_KINDS, log_violation, read_violation_log } from '../kernel/violation.js';

/** the violation kinds the invariants report (their codes follow the kernel's) */
export const INVARIANT_VIOLATION_KINDS = [
  /** a reference count differs from the holders found (fds, mappings, entries, pins, programs) */
  'references',
  /** a release purged an entry of another map file that it had itself loaded and checked */
  'release-foreign',
  /** an entry outlived the map file that added it (4.8+, without BPF_F_PRESERVE_ELEMS) */
  'release-left',
  /** 4.7: an exited app's perf event is kept alive by a map entry (the leak 3b1efb196eee fixed) */
  'leaked-event',
  /** a ring's samples written != samples read + unread, or losses unaccounted */
  'conservation',
  /** a record failed its check (torn), came from another CPU, or arrived out of order */
  'provenance',
  /** an object was freed twice, or is still there after everything was closed */
  'lifetime',
] as const;
export type InvariantViolationKind = (typeof INVARIANT_VIOLATION_KINDS)[number];

/** every kind in the log, by code */
export const VIOLATION_KINDS = [...KERNEL_VIOLATION_KINDS, ...INVARIANT_VIOLATION_KINDS] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  cpu: number;
  args: [number, number, number, number];
  /** ms since the kernel was created */
  timeMs: number;
}

/** an invariant's report: appended to the arena's violation log, seen by every thread */
export function reportViolation(k: Kctx, kind: InvariantViolationKind, cpu: number, a = 0, b = 0, c = 0, d = 0): void {
  log_violation(k, VIOLATION_KINDS.indexOf(kind), cpu, a, b, c, d);
}

/** the log, with names */
export function readViolations(k: Kctx): Violation[] {
  return read_violation_log(k).map((r) => ({ kind: VIOLATION_KINDS[r.code] ?? 'none', cpu: r.cpu, args: r.args, timeMs: r.timeMs }));
}

// ---------------------------------------------------------------------------------------
// Named reasons

/** why the references invariant fired (the first argument of a 'references' violation) */
export const REFERENCE_REASON = {
  FILE: 1,
  ENTRY_NOT_IN_SLOT: 2,
  ENTRY_IN_TWO_SLOTS: 3,
  MAP_REFCNT: 4,
  MAP_USERCNT: 5,
} as const;
export const REFERENCE_REASONS: Record<number, string> = {
  [REFERENCE_REASON.FILE]: "a file's f_count differs from its holders",
  [REFERENCE_REASON.ENTRY_NOT_IN_SLOT]: 'a live entry sits in no slot (its reference is leaked)',
  [REFERENCE_REASON.ENTRY_IN_TWO_SLOTS]: 'an entry sits in two slots',
  [REFERENCE_REASON.MAP_REFCNT]: "a map's refcnt differs from its files, pins and programs",
  [REFERENCE_REASON.MAP_USERCNT]: "a map's usercnt differs from its files and pins",
};

/** why the provenance invariant fired */
export const PROVENANCE_REASON = { TORN: 1, MISROUTED: 2, OUT_OF_ORDER: 3, CORRUPT_RING: 4 } as const;
export const PROVENANCE_REASONS: Record<number, string> = {
  [PROVENANCE_REASON.TORN]: 'torn record (check failed)',
  [PROVENANCE_REASON.MISROUTED]: "record of another CPU in this CPU's ring",
  [PROVENANCE_REASON.OUT_OF_ORDER]: 'record out of order',
  [PROVENANCE_REASON.CORRUPT_RING]: 'corrupt ring header',
};

/** what the lifetime audit found left (the first argument of a 'lifetime' violation) */
export const LIFETIME_LEFT = ['maps', 'perf events', 'entries', 'programs', 'epoll instances', 'files', 'pins', 'pending RCU callbacks', 'ring pages'] as const;
/** the lifetime reason for the console file's count */
export const LIFETIME_CONSOLE = 99;

// ---------------------------------------------------------------------------------------
// The invariants

export type InvariantName = 'references' | 'use-after-free' | 'release' | 'conservation' | 'provenance' | 'leaked-events';

export interface InvariantSpec {
  name: InvariantName | 'kernel';
  rule: string;
  /** the violation kinds that break it */
  kinds: readonly ViolationKind[];
}

/** in the order reports list them; 'kernel' gathers the kernel's own limits */
export const INVARIANTS: readonly InvariantSpec[] = [
  {
    name: 'references',
    rule: 'every reference count equals its holders; everything is freed exactly once',
    kinds: ['references', 'lifetime', 'map-free-not-empty', 'refcount-underflow', 'double-put'],
  },
  {
    name: 'use-after-free',
    rule: 'no CPU sees an entry or perf event recycled inside its read-side section',
    kinds: ['use-after-free-entry', 'use-after-free-event'],
  },
  {
    name: 'release',
    rule: "a map file's release purges exactly its own entries (none with BPF_F_PRESERVE_ELEMS)",
    kinds: ['release-foreign', 'release-left'],
  },
  { name: 'conservation', rule: 'per ring: records written = read + unread; losses = reported + pending', kinds: ['conservation'] },
  { name: 'provenance', rule: "every record read from CPU c's ring came from CPU c, whole and in order", kinds: ['provenance'] },
  { name: 'leaked-events', rule: "no perf event outlives its app through a map entry (4.7's leak)", kinds: ['leaked-event'] },
  { name: 'kernel', rule: "the emulated kernel's own tables and queues sufficed (no call_rcu overflow)", kinds: ['none', 'rcu-queue-full'] },
];

/** the invariant each violation kind breaks */
export const INVARIANT_OF = Object.fromEntries(INVARIANTS.flatMap((inv) => inv.kinds.map((kind) => [kind, inv.name]))) as Record<
  ViolationKind,
  InvariantName | 'kernel'
>;

export const INVARIANT_RULES = Object.fromEntries(INVARIANTS.map((inv) => [inv.name, inv.rule])) as Record<InvariantName | 'kernel', string>;

/** the violations of `vs` that are bugs, not the old kernel's behaviour (`all`: every violation logged, for the context) */
export function kernelBugs(b: KernelBehaviour, vs: readonly Violation[], all: readonly Violation[] = vs): Violation[] {
  return vs.filter((v) => !isOldKernelBehaviour(b, v, all));
}

/**
 * A violation that is the emulated kernel's own behaviour, not a bug: before 4.8 a put was an
 * immediate fput, so a CPU may still use a perf event whose file was just released
 * (kernel/bpf/arraymap.c of 4.7, perf_event_fd_array_put_ptr). What it then writes may land in
 * the ring of the event that took the freed one's place, bound to another CPU: a record of
 * another CPU in a CPU's ring. That too is the old kernel's, when the writing CPU reported
 * such a use (`all`: the violations logged) no later than a second after the record was read:
 * the CPU checks the event's generation after it has published the record, so a reader may
 * see the record first.
 */
export function isOldKernelBehaviour(b: KernelBehaviour, v: Violation, all: readonly Violation[] = []): boolean {
  if (b.putDeferred) return false;
  if (v.kind === 'use-after-free-event') return true;
  if (v.kind !== 'provenance' || v.args[0] !== PROVENANCE_REASON.MISROUTED) return false;
  const writer = v.args[2];
  return all.some((u) => u.kind === 'use-after-free-event' && u.cpu === writer && u.timeMs <= v.timeMs + 1000);
}

/** refcount-underflow's first argument (kernel/file.ts, bpf/syscall.ts, bpf/core.ts) */
const REFCOUNT_OBJECTS: Record<number, string> = { 1: 'file', 2: 'map', 3: 'program' };
/** an entry's state word (layout.ts S_*) */
const ENTRY_STATES: Record<number, string> = { 0: 'free', 1: 'live', 2: 'dead', 3: 'put, waiting for a grace period' };

/** A violation in words a person can read (the stress report, the explorer's findings). `withTime`: prefix the time since the kernel's creation */
export function describeViolation(v: Violation, withTime = true): string {
  const [a, b, c, d] = v.args;
  const at = withTime ? `${(v.timeMs / 1000).toFixed(3)}s` : '';
  switch (v.kind) {
    case 'references':
      return `${at} references: ${REFERENCE_REASONS[a] ?? a} (index ${b}: ${c}, want ${d})`;
    case 'provenance':
      return `${at} provenance on CPU ${v.cpu}: ${PROVENANCE_REASONS[a] ?? a}`;
    case 'use-after-free-entry':
      return `${at} CPU ${v.cpu} saw entry ${a} recycled inside its read-side section (gen ${b} -> ${c})`;
    case 'use-after-free-event':
      return `${at} CPU ${v.cpu} saw perf event ${a} freed inside its read-side section`;
    case 'release-foreign':
      return `${at} release of map file ${d} purged map ${a} slot ${b}, owned by file ${c}, which it had checked`;
    case 'release-left':
      return `${at} map ${a} slot ${b} still holds an entry of map file ${c}, released`;
    case 'leaked-event':
      return `${at} map ${a} slot ${b} keeps perf event index ${d} alive for map file ${c}, gone (the 4.7 leak)`;
    case 'conservation':
      return `${at} ring of perf event index ${a}: ${b} samples written, ${c} read or unread`;
    case 'refcount-underflow':
      return `${at} ${REFCOUNT_OBJECTS[a] ?? `object kind ${a}`} ${b}: a reference dropped with ${c} held (the count would go below zero)`;
    case 'double-put':
      return `${at} map entry ${a} put a second time (it was no longer live: state ${ENTRY_STATES[b] ?? b})`;
    case 'map-free-not-empty':
      return `${at} map ${a} freed with slot ${b} still holding entry ${c} (the kernel's BUG_ON in fd_array_map_free)`;
    case 'rcu-queue-full':
      return `${at} the call_rcu queue is full (callback kind ${a}, argument ${b}): the arena's rcuQueue limit is too small`;
    default:
      return `${at} ${v.kind} (${v.args.join(', ')})`;
  }
}
