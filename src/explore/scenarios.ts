/**
 * Small scenarios for the explorer: a handful of actors, a map of 1-2 slots, a few operations
 * each. Setup (maps, pins, events) runs before the schedule starts and is not explored; the
 * actors' operations are. Each names the race it is built around.
 */
import { CorruptRingError } from '../errors.js';
import { BPF_F_CURRENT_CPU } from '../kernel/behaviour.js';
import type { Kernel } from '../emulator.js';
import { encodeRecord } from '../record.js';
import { ProvenanceChecker } from '../stress/invariants/provenance.js';
import type { Process } from '../process/process.js';
import type { Built, Finding, Scenario, XOp } from './runner.js';

const PIN = '/sys/fs/bpf/x';
const op = (name: string, run: () => void): XOp => ({ name, run });
const perfArray = (p: Process, maxEntries: number): number => p.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries });

function record(cpu: number, seq: number, len: number): Uint8Array {
  const words = new Uint32Array((len + 3) >>> 2);
  encodeRecord(words, cpu, seq, len);
  return new Uint8Array(words.buffer, 0, len);
}

/** the purge window (perf_event_fd_array_release): F's release purge against G's update of the same slot */
const purgeWindow: Scenario = {
  name: 'purge-window',
  summary: 'app A releases its map file F (the purge) while app B updates slot 0 through its own frontend G',
  cpus: 2,
  target: 'foreign-entry-purged',
  build(kernel: Kernel): Built {
    const A = kernel.process('A');
    const F = perfArray(A, 2);
    A.bpf.objPin(F, PIN);
    const B = kernel.process('B');
    const G = B.bpf.objGet(PIN);
    A.bpf.mapUpdateElem(F, 0, A.perfEventOpen({ cpu: 0, mmap: false }));
    A.bpf.mapUpdateElem(F, 1, A.perfEventOpen({ cpu: 1, mmap: false }));
    const b0 = B.perfEventOpen({ cpu: 0, mmap: false });
    return {
      actors: [
        { name: 'A', ops: [op('close(F)', () => A.close(F))] },
        { name: 'B', ops: [op('update(G, 0)', () => B.bpf.mapUpdateElem(G, 0, b0))] },
      ],
      check(): Finding[] {
        const n = kernel.inspect().foreignEntriesPurged;
        return n > 0
          ? [
              {
                kind: 'foreign-entry-purged',
                violation: false,
                detail: `A's purge removed B's fresh entry from slot 0 (foreign entries purged: ${n}): the load-then-exchange window of perf_event_fd_array_release (kernel/bpf/arraymap.c; docs/semantics.md, "The purge window")`,
              },
            ]
          : [];
      },
    };
  },
};

/** __bpf_perf_event_output's RCU section: a CPU inside its read-side section against a delete and grace periods */
const outputVsDelete: Scenario = {
  name: 'output-vs-delete',
  summary: 'CPU 0 outputs through slot 0 while app A deletes and refills it and the RCU machinery runs',
  cpus: 1,
  build(kernel: Kernel): Built {
    const A = kernel.process('A');
    const m = perfArray(A, 1);
    const prog = A.bpf.progLoad({ maps: [m] });
    A.bpf.mapUpdateElem(m, 0, A.perfEventOpen({ cpu: 0, pages: 1 }));
    const e2 = A.perfEventOpen({ cpu: 0, mmap: false });
    const out = (seq: number) => () => void kernel.cpu(0).perfEventOutput({ process: A, fd: prog }, 0, BPF_F_CURRENT_CPU, record(0, seq, 16));
    return {
      actors: [
        { name: 'cpu0', ops: [op('output', out(0)), op('output', out(1))] },
        { name: 'A', ops: [op('delete(0)', () => A.bpf.mapDeleteElem(m, 0)), op('update(0)', () => A.bpf.mapUpdateElem(m, 0, e2))] },
        { name: 'rcu', ops: [op('rcu_tick', () => void kernel.rcuTick()), op('rcu_tick', () => void kernel.rcuTick())] },
      ],
    };
  },
};

/** two frontends updating and deleting one slot: each exchange must put exactly what it got */
const updateRace: Scenario = {
  name: 'update-race',
  summary: 'apps A and B update slot 0 through their own frontends while B also deletes it',
  cpus: 1,
  build(kernel: Kernel): Built {
    const A = kernel.process('A');
    const F = perfArray(A, 1);
    A.bpf.objPin(F, PIN);
    const B = kernel.process('B');
    const G = B.bpf.objGet(PIN);
    const a = A.perfEventOpen({ cpu: 0, mmap: false });
    const b = B.perfEventOpen({ cpu: 0, mmap: false });
    return {
      actors: [
        { name: 'A', ops: [op('update(F, 0)', () => A.bpf.mapUpdateElem(F, 0, a))] },
        { name: 'B', ops: [op('update(G, 0)', () => B.bpf.mapUpdateElem(G, 0, b)), op('delete(G, 0)', () => B.bpf.mapDeleteElem(G, 0))] },
        { name: 'rcu', ops: [op('rcu_tick', () => void kernel.rcuTick())] },
      ],
    };
  },
};

/** ring_buffer_has_space / perf_output_put_handle: one producer and one consumer on a ring that is nearly full */
const ring: Scenario = {
  name: 'ring',
  summary: 'CPU 0 writes five 1000-byte records into a one-page ring (four fit) while app A reads it',
  cpus: 1,
  build(kernel: Kernel): Built {
    const A = kernel.process('A');
    const m = perfArray(A, 1);
    const prog = A.bpf.progLoad({ maps: [m] });
    const fd = A.perfEventOpen({ cpu: 0, pages: 1 });
    A.bpf.mapUpdateElem(m, 0, fd);
    const checker = new ProvenanceChecker();
    const out = (seq: number) => () => void kernel.cpu(0).perfEventOutput({ process: A, fd: prog }, 0, BPF_F_CURRENT_CPU, record(0, seq, 1000));
    const read = () => {
      try {
        A.consumeRing(fd, (data) => void checker.check(kernel.k, 1, 0, data));
      } catch (err) {
        if (!(err instanceof CorruptRingError)) throw err;
        checker.corrupt(kernel.k, 1, 0);
      }
    };
    return {
      actors: [
        { name: 'cpu0', ops: [0, 1, 2, 3, 4].map((s) => op('output', out(s))) },
        { name: 'A', ops: [op('read', read), op('read', read)] },
      ],
    };
  },
};

export const SCENARIOS: readonly Scenario[] = [purgeWindow, outputVsDelete, updateRace, ring];

/** the scenario that exercises each interleaving fault */
export const SCENARIO_FOR_FAULT: Record<string, string> = {
  'free-without-gp': 'output-vs-delete',
  'gp-no-wait': 'output-vs-delete',
  'update-load-store': 'update-race',
  'reader-early-tail': 'ring',
  'producer-early-head': 'ring',
  'purge-no-owner-check': 'purge-window',
  'replace-leak': 'update-race',
  'double-drop': 'update-race',
};

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
