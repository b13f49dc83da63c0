/**
 * A stress actor: seeded random user-space activity against the emulated kernel (perf event
 * open/close, map create, update, delete, lookup, get_next_key, pin, objGet, unlink, dup, fork,
 * close, exit, ring reads and unmaps), in one thread, over a few processes of its own.
 *
 * Determinism: each action and its parameters are drawn from the actor's PRNG alone, never
 * from the state the action finds (which depends on the other threads' races); an action
 * whose target is missing is a no-op. So one seed gives one action sequence (the digest), and
 * only the syscalls' outcomes vary between runs.
 */
import { CorruptRingError } from '../errors.js';
import { E_CPU, FILE_KIND_MAP, FILE_KIND_PERF } from '../arena/layout.js';
import type { Kernel } from '../emulator.js';
import { SystemCallError } from '../errors.js';
import { BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY } from '../kernel/behaviour.js';
import { file_obj, file_serial } from '../kernel/file.js';
import { event_field } from '../kernel/perf_event.js';
import type { Process } from '../process/process.js';
import { ProvenanceChecker } from './invariants/provenance.js';
import { Prng } from './prng.js';

export const ACTIONS = [
  'open',
  'close',
  'update',
  'delete',
  'lookup',
  'nextkey',
  'objget',
  'pin',
  'unlink',
  'create',
  'dup',
  'fork',
  'exit',
  'read',
  'munmap',
] as const;
export type ActionName = (typeof ACTIONS)[number];
const WEIGHTS = [10, 9, 22, 8, 2, 3, 8, 4, 3, 2, 4, 2, 3, 16, 3];
const TOTAL = WEIGHTS.reduce((s, w) => s + w, 0);

export interface ActorConfig {
  id: number;
  seed: number;
  cpus: number;
  maxEntries: number;
  /** the map the CPUs' program writes to, pinned by the loader (never unlinked by actors) */
  mainPin: string;
  /** other bpffs paths actors pin to and unlink */
  pinNames: string[];
  maxProcs?: number;
  maxFds?: number;
}

export interface ActorResult {
  id: number;
  ops: number;
  /** FNV-1a of the action sequence (kinds and drawn parameters): equal for equal seeds */
  digest: string;
  actions: Partial<Record<ActionName, number>>;
  /** syscall errors by code (expected: EBADF, ENOENT, E2BIG, ...) */
  errors: Record<string, number>;
  recordsVerified: number;
  badRecords: number;
}

const FNV = 16777619;

export class Actor {
  readonly cfg: ActorConfig;
  readonly kernel: Kernel;
  ops = 0;
  #rng: Prng;
  #procs: Process[] = [];
  #digest = 0x811c9dc5 | 0;
  #actions: Partial<Record<ActionName, number>> = {};
  #errors: Record<string, number> = {};
  #checker = new ProvenanceChecker();
  #corrupt = new Set<number>();
  #spawned = 0;

  constructor(kernel: Kernel, cfg: ActorConfig) {
    this.kernel = kernel;
    this.cfg = cfg;
    this.#rng = new Prng(cfg.seed, 1000 + cfg.id);
    this.#procs.push(this.#spawn());
  }

  get processes(): readonly Process[] {
    return this.#procs;
  }

  /** one action */
  step(): void {
    const r0 = this.#rng.next();
    let pick = r0 % TOTAL;
    let kind = 0;
    while (pick >= WEIGHTS[kind]!) pick -= WEIGHTS[kind++]!;
    const r1 = this.#rng.next();
    const r2 = this.#rng.next();
    const r3 = this.#rng.next();
    for (const v of [kind, r1, r2, r3]) this.#digest = Math.imul(this.#digest ^ v, FNV);
    const name = ACTIONS[kind]!;
    this.#actions[name] = (this.#actions[name] ?? 0) + 1;
    this.ops++;
    try {
      this.#do(name, r1, r2, r3);
    } catch (err) {
      if (!(err instanceof SystemCallError)) throw err;
      this.#errors[err.code] = (this.#errors[err.code] ?? 0) + 1;
    }
  }

  /** adds the fds and ring mappings of every process to `holders` (file index -> count) */
  publishHolders(holders: Int32Array): void {
    for (const p of this.#procs) {
      for (const { file } of p.fdTable()) holders[file]!++;
      for (const f of p.mappedFiles()) holders[f]!++;
    }
  }

  /** drains and exits every process */
  finish(): ActorResult {
    for (const p of this.#procs) {
      this.#drainAll(p);
      p.exit();
    }
    this.#procs = [];
    return {
      id: this.cfg.id,
      ops: this.ops,
      digest: (this.#digest >>> 0).toString(16).padStart(8, '0'),
      actions: this.#actions,
      errors: this.#errors,
      recordsVerified: this.#checker.verified,
      badRecords: this.#checker.bad,
    };
  }

  #spawn(): Process {
    return this.kernel.process(`a${this.cfg.id}-p${this.#spawned++}`);
  }

  #do(action: ActionName, r1: number, r2: number, r3: number): void {
    const cfg = this.cfg;
    const p = this.#procs[r1 % this.#procs.length]!;
    const table = p.fdTable().filter((x) => x.fd > 2);
    const pick = <T>(xs: T[], r: number): T | undefined => (xs.length ? xs[r % xs.length] : undefined);
    const maps = table.filter((x) => x.kind === FILE_KIND_MAP);
    const perfs = table.filter((x) => x.kind === FILE_KIND_PERF);
    const key = r3 % (cfg.maxEntries + 1); // one index out of range
    const modern = this.kernel.k.b.fileModes;
    switch (action) {
      case 'open': {
        if (table.length >= (cfg.maxFds ?? 40)) return;
        const cpu = r2 % cfg.cpus;
        const v = r3 % 20;
        if (v === 0) p.perfEventOpen({ cpu, inherit: true, mmap: false });
        else if (v === 1) p.perfEventOpen({ cpu, config: 'cpu_clock', mmap: false });
        else if (v === 2) p.perfEventOpen({ cpu, mmap: false });
        else p.perfEventOpen({ cpu, pages: 1 << ((r3 >>> 5) % 3), wakeupEvents: 0 });
        return;
      }
      case 'close': {
        const x = pick(table, r2);
        if (x) p.close(x.fd);
        return;
      }
      case 'update': {
        const m = pick(maps, r2);
        const v = (r3 >>> 8) % 10 === 0 ? pick(table, r3 >>> 12) : pick(perfs, r3 >>> 12);
        if (!m || !v) return;
        // mostly the slot of the event's own CPU (what consumers do), so outputs land
        const own = v.kind === FILE_KIND_PERF && r3 % 4 !== 0 ? p.cpuOf(v.fd) : -1;
        p.bpf.mapUpdateElem(m.fd, own >= 0 ? own % (cfg.maxEntries + 1) : key, v.fd);
        return;
      }
      case 'delete': {
        const m = pick(maps, r2);
        if (m) p.bpf.mapDeleteElem(m.fd, key);
        return;
      }
      case 'lookup': {
        const m = pick(maps, r2);
        if (m) p.bpf.mapLookupElem(m.fd, key);
        return;
      }
      case 'nextkey': {
        const m = pick(maps, r2);
        if (m) p.bpf.mapGetNextKey(m.fd, r3 % 5 === 0 && modern ? null : r3 % (cfg.maxEntries + 2));
        return;
      }
      case 'objget': {
        if (table.length >= (cfg.maxFds ?? 40)) return;
        const path = r2 % 3 === 0 ? cfg.mainPin : cfg.pinNames[r2 % cfg.pinNames.length]!;
        p.bpf.objGet(path, modern && r3 % 8 === 0 ? BPF_F_RDONLY : 0);
        return;
      }
      case 'pin': {
        const m = pick(maps, r2);
        if (m) p.bpf.objPin(m.fd, cfg.pinNames[r3 % cfg.pinNames.length]!);
        return;
      }
      case 'unlink':
        p.unlink(cfg.pinNames[r2 % cfg.pinNames.length]!);
        return;
      case 'create': {
        if (table.length >= (cfg.maxFds ?? 40)) return;
        const preserve = this.kernel.k.b.preserveElems && r3 % 4 === 0;
        p.bpf.mapCreate({
          type: 'perf_event_array',
          keySize: 4,
          valueSize: 4,
          maxEntries: 1 + (r2 % cfg.maxEntries),
          flags: preserve ? BPF_F_PRESERVE_ELEMS : 0,
        });
        return;
      }
      case 'dup': {
        const x = pick(table, r2);
        if (x && table.length < (cfg.maxFds ?? 40)) p.dup(x.fd);
        return;
      }
      case 'fork':
        if (this.#procs.length < (cfg.maxProcs ?? 3)) this.#procs.push(p.fork(`a${cfg.id}-p${this.#spawned++}`));
        return;
      case 'exit':
        this.#drainAll(p);
        p.exit();
        this.#procs.splice(this.#procs.indexOf(p), 1);
        if (this.#procs.length === 0) this.#procs.push(this.#spawn());
        return;
      case 'read': {
        const f = pick(p.mappedFiles(), r2);
        if (f !== undefined) this.#drain(p, f);
        return;
      }
      case 'munmap': {
        const f = pick(p.mappedFiles(), r2);
        if (f === undefined) return;
        this.#drain(p, f);
        p.munmap({ file: file_serial(this.kernel.k, f) });
        this.#checker.forget(file_serial(this.kernel.k, f));
        return;
      }
    }
  }

  #drainAll(p: Process): void {
    for (const f of p.mappedFiles()) this.#drain(p, f);
  }

  /** reads a mapped ring, checking each record's provenance */
  #drain(p: Process, f: number): void {
    const k = this.kernel.k;
    const serial = file_serial(k, f);
    if (this.#corrupt.has(serial)) return;
    const cpu = event_field(k, file_obj(k, f), E_CPU);
    try {
      p.consumeRing({ file: serial }, (data) => void this.#checker.check(k, serial, cpu, data));
    } catch (err) {
      if (!(err instanceof CorruptRingError)) throw err;
      this.#corrupt.add(serial); // a header the walk cannot get past: reported, not read again
      this.#checker.corrupt(k, serial, cpu);
    }
  }
}
