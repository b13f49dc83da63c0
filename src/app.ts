/**
 * A user-space consumer app that runs in its own worker (workers/app.ts): it gets the pinned
 * map through BPF_OBJ_GET (its own frontend), opens a perf buffer for its CPUs, verifies every
 * record (provenance, wholeness, order) and counts. The main thread steers and watches it
 * through a small control block of its own (not the kernel arena), laid out here.
 */
import type { SharedMemory } from './arena/wasm_atomics.js';
import { Kernel } from './emulator.js';
import { PerfBuffer } from './consumer/perf_buffer.js';
import { verifyRecord } from './record.js';

// Control block (Int32Array over a SharedArrayBuffer of appControlBytes(cpus)):
export const APP_CMD = 0; // written by main: CMD_*
export const APP_STATE = 1; // written by the app: STATE_*
export const APP_PID = 2;
export const APP_MAP_FILE = 3; // id of the app's map file (the owner of its entries)
export const APP_PER_CPU = 8; // then per CPU: APP_CPU_STRIDE words, written by the app
export const APP_CPU_STRIDE = 6;
export const AC_RECEIVED = 0; // samples read that verified
export const AC_LOST = 1; // lost records reported by PERF_RECORD_LOST
export const AC_GAPS = 2; // sequence numbers skipped
export const AC_BAD = 3; // torn, misrouted or out-of-order samples
export const AC_EVENT = 4; // perf event id of the app's buffer for that CPU (0: none)
export const AC_FILE = 5; // file id of that perf event
export const CMD_RUN = 0;
export const CMD_EXIT = 1; // exit() with the buffer open: the kernel closes everything
export const CMD_CLOSE = 2; // close the perf buffer, then exit()
export const STATE_STARTING = 0;
export const STATE_READY = 1;
export const STATE_DONE = 2;

export function appControlBytes(cpus: number): number {
  return (APP_PER_CPU + cpus * APP_CPU_STRIDE) * 4;
}

export interface AppTask {
  sab: SharedArrayBuffer;
  /** kernel.memory, for the worker's fast atomics */
  memory: SharedMemory | null;
  control: SharedArrayBuffer;
  name: string;
  pinPath: string;
  cpus: number[];
  pages: number;
  wakeupEvents: number;
  watermark: number;
  pollMs: number;
}

export interface AppResult {
  name: string;
  pid: number;
  received: number;
  lost: number;
  gaps: number;
  bad: number;
  /** first few problems, for the report */
  problems: string[];
}

export function runApp(task: AppTask): AppResult {
  const kernel = Kernel.attach(task.sab, task.memory);
  const ctl = new Int32Array(task.control);
  const p = kernel.process(task.name);
  const mapFd = p.bpf.objGet(task.pinPath);
  const problems: string[] = [];
  const next = new Map<number, number>(); // cpu -> next expected seq
  const w = (cpu: number, f: number): number => APP_PER_CPU + cpu * APP_CPU_STRIDE + f;
  const pb = PerfBuffer.open(p, mapFd, {
    cpus: task.cpus,
    pages: task.pages,
    // the kernel ignores wakeup_events once attr.watermark is set; PerfBuffer refuses both
    wakeupEvents: task.watermark > 0 ? 0 : task.wakeupEvents,
    watermark: task.watermark,
    onSample(cpu, data) {
      const r = verifyRecord(data);
      let bad = '';
      if (!r.ok) bad = r.reason;
      else if (r.cpu !== cpu) bad = `record of CPU ${r.cpu} in CPU ${cpu}'s buffer`;
      else if (r.seq < (next.get(cpu) ?? 0)) bad = `seq ${r.seq} after ${next.get(cpu)! - 1}`;
      if (bad) {
        Atomics.add(ctl, w(cpu, AC_BAD), 1);
        if (problems.length < 5) problems.push(`${task.name} CPU ${cpu}: ${bad}`);
        return;
      }
      if (!r.ok) return;
      const gap = r.seq - (next.get(cpu) ?? r.seq);
      if (gap > 0) Atomics.add(ctl, w(cpu, AC_GAPS), gap);
      next.set(cpu, r.seq + 1);
      Atomics.add(ctl, w(cpu, AC_RECEIVED), 1);
    },
    onLost(cpu, lost) {
      Atomics.add(ctl, w(cpu, AC_LOST), lost);
    },
  });
  const snap = kernel.inspect();
  for (let i = 0; i < pb.bufferCount; i++) {
    const file = p.fileOf(pb.bufferFd(i));
    ctl[w(pb.bufferCpu(i), AC_FILE)] = file;
    ctl[w(pb.bufferCpu(i), AC_EVENT)] = snap.files.find((f) => f.id === file)?.object ?? 0;
  }
  ctl[APP_PID] = p.pid;
  ctl[APP_MAP_FILE] = p.fileOf(mapFd);
  Atomics.store(ctl, APP_STATE, STATE_READY);
  Atomics.notify(ctl, APP_STATE);
  while (Atomics.load(ctl, APP_CMD) === CMD_RUN) pb.poll(task.pollMs);
  pb.consume(); // what is still in the rings
  if (Atomics.load(ctl, APP_CMD) === CMD_CLOSE) pb.close();
  p.exit();
  const sum = (f: number): number => task.cpus.reduce((s, c) => s + Atomics.load(ctl, w(c, f)), 0);
  Atomics.store(ctl, APP_STATE, STATE_DONE);
  Atomics.notify(ctl, APP_STATE);
  return { name: task.name, pid: p.pid, received: sum(AC_RECEIVED), lost: sum(AC_LOST), gaps: sum(AC_GAPS), bad: sum(AC_BAD), problems };
}
