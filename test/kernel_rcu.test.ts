/**
 * RCU (kernel/rcu/): a grace period waits for every read-side section in progress when it
 * starts, CPU readers (the output path) and task readers (syscall-side sections such as the
 * release purge) alike, and only those; callbacks run in queue order once their grace period
 * has ended; stalls and a full queue are reported, never a hang. Synchronous, per version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, Kernel, type KernelVersion } from '../src/index.js';
import { H_RCU_LOCK, RC_CTR, RCU_CPU_STRIDE, RCU_PER_CPU } from '../src/arena/layout.js';
import { BEHAVIOURS } from '../src/kernel/behaviour.js';
import { bpf_perf_event_output, bpf_perf_event_read } from '../src/kernel/bpf_trace.js';
import type { Kctx } from '../src/kernel/context.js';
import {
  call_rcu,
  call_rcu_batch_begin,
  call_rcu_batch_end,
  queue_work,
  rcu_barrier,
  rcu_gp_seq,
  rcu_pending,
  rcu_read_lock,
  rcu_read_unlock,
  rcu_register,
  rcu_stalled_cpus,
  rcu_tick,
  synchronize_rcu,
} from '../src/kernel/rcu.js';
import { FIXED, VERSIONS, payload, perfArray } from './fixtures/scenario.js';

/** `fn` inside one call_rcu batch, as the release purge opens one around its walk */
function call_rcu_batched(k: Kctx, fn: () => void): void {
  const opened = call_rcu_batch_begin(k);
  try {
    fn();
  } finally {
    if (opened) call_rcu_batch_end(k);
  }
}

/** a callback kind of this test's own, recording its argument */
const KIND = 24;
let ran: number[] = [];
rcu_register(KIND, (_k, arg) => void ran.push(arg));

/** a callback kind that queues a KIND callback with arg + 1 (as a free that drops the last reference of another object) */
const CHAIN = 25;
rcu_register(CHAIN, (k, arg) => {
  ran.push(arg);
  call_rcu(k, KIND, arg + 1);
});

/** work that queues the next link of a chain, up to 6 (each runs in the tick after the one that queued it) */
const WORK_CHAIN = 26;
rcu_register(WORK_CHAIN, (k, arg) => {
  ran.push(arg);
  if (arg < 6) queue_work(k, WORK_CHAIN, arg + 1);
});

/** work that sleeps in synchronize_rcu twice (a generator: each yield is one), logging arg*10 + step */
const SLEEPER = 27;
rcu_register(SLEEPER, function* (_k, arg) {
  ran.push(arg * 10);
  yield;
  ran.push(arg * 10 + 1);
  yield;
  ran.push(arg * 10 + 2);
});

/** work that fails in its first part (a table full, say) */
const THROWER = 28;
rcu_register(THROWER, () => {
  ran.push(-1);
  throw new Error('work failed');
});

/** work that fails after sleeping in synchronize_rcu once */
const SLEEP_THROWER = 30;
rcu_register(SLEEP_THROWER, function* () {
  ran.push(-2);
  yield;
  throw new Error('work failed after its sleep');
});

/** work that queues itself again, up to a cap (another thread feeding the queue as fast as it drains) */
const RELOAD = 29;
rcu_register(RELOAD, (k, arg) => {
  ran.push(arg);
  if (ran.length < 2_000_000) queue_work(k, RELOAD, arg + 1);
});

function kernelOf(v: KernelVersion, limits: Record<string, number> = {}) {
  ran = [];
  return Kernel.create({ cpus: 2, version: v, limits: { ringPages: 16, ...limits } });
}

/** CPU `cpu`'s read-side counter word, as another thread inside a section would leave it */
const ctrWord = (kernel: Kernel, cpu: number) => kernel.arena.L.rcuBase + RCU_PER_CPU + cpu * RCU_CPU_STRIDE + RC_CTR;

test('nested sections on CPU 0, first thing in this thread: only the outermost unlock lets a grace period end', () => {
  const kernel = kernelOf('6.18');
  const k = kernel.k;
  rcu_read_lock(k, 0);
  rcu_read_lock(k, 0);
  call_rcu(k, KIND, 40);
  rcu_tick(k);
  rcu_read_unlock(k, 0);
  assert.is(rcu_tick(k), 0);
  rcu_read_lock(k, 0);
  rcu_read_unlock(k, 0);
  assert.is(rcu_tick(k), 0, 'still inside the outer section');
  rcu_read_unlock(k, 0);
  assert.is(rcu_tick(k), 1);
});

for (const v of VERSIONS) {
  test(`${v}: a grace period waits for a CPU reader inside a section when it starts, and ends at its unlock`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    rcu_read_lock(k, 1);
    call_rcu(k, KIND, 1);
    assert.is(rcu_tick(k), 0);
    assert.is(rcu_gp_seq(k), 1, 'started, not ended');
    assert.equal(rcu_stalled_cpus(k), [1]);
    rcu_read_lock(k, 1); // nested: only the outermost unlock ends the section
    rcu_read_unlock(k, 1);
    assert.is(rcu_tick(k), 0);
    rcu_read_unlock(k, 1);
    assert.is(rcu_tick(k), 1);
    assert.equal([ran, rcu_gp_seq(k), rcu_stalled_cpus(k)], [[1], 2, []]);
  });

  test(`${v}: a grace period waits for a task reader (a syscall-side section) too, nested or not`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    assert.ok(k.task >= kernel.cpus, 'a task reader index follows the CPUs');
    rcu_read_lock(k, k.task);
    rcu_read_lock(k, k.task);
    call_rcu(k, KIND, 2);
    assert.is(rcu_tick(k), 0);
    assert.equal(rcu_stalled_cpus(k), [k.task]);
    rcu_read_unlock(k, k.task);
    assert.is(rcu_tick(k), 0, 'still inside the outer section');
    rcu_read_unlock(k, k.task);
    assert.is(rcu_tick(k), 1);
    assert.equal(ran, [2]);
    // a later section does not hold up a grace period that started before it
    call_rcu(k, KIND, 3);
    rcu_tick(k);
    assert.equal(ran, [2, 3]);
  });

  test(`${v}: the release purge runs inside a task read-side section: a grace period cannot end in its middle`, () => {
    const kernel = kernelOf(v);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.bpf.mapUpdateElem(m, 0, fd);
    const seen: number[] = [];
    kernel.hooks = {
      purgeLoaded: () => {
        call_rcu(kernel.k, KIND, 4);
        seen.push(kernel.rcuTick(), ran.length);
      },
    };
    app.close(m);
    kernel.hooks = {};
    if (kernel.version === '4.7') {
      assert.equal(seen, [], '4.7 has no purge');
      return;
    }
    assert.equal(seen, [0, 0], 'inside the purge, the callback waits');
    kernel.rcuBarrier();
    assert.equal(ran, [4]);
  });

  test(`${v}: an output's read-side section holds up a grace period until the helper returns`, () => {
    const kernel = kernelOf(v);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const prog = app.bpf.progLoad({ maps: [m] });
    const fd = app.perfEventOpen({ cpu: 1, pages: 1 });
    app.bpf.mapUpdateElem(m, 1, fd);
    const seen: unknown[] = [];
    kernel.hooks = {
      outputLoaded: ({ cpu }) => {
        call_rcu(kernel.k, KIND, 5);
        seen.push(kernel.rcuTick(), rcu_stalled_cpus(kernel.k), cpu);
      },
    };
    assert.is(kernel.cpu(1).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), 0);
    kernel.hooks = {};
    assert.equal(seen, [0, [1], 1]);
    assert.is(kernel.rcuTick(), 1);
    assert.equal(ran, [5]);
  });

  test(`${v}: the helpers take no read-side section of their own: called outside one (a caller's bug) it throws and changes nothing; inside the caller's, it outputs`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    app.bpf.progLoad({ maps: [m] });
    const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.bpf.mapUpdateElem(m, 0, fd);
    const data = payload(8);
    assert.throws(() => bpf_perf_event_output(k, 0, 0, 0, BPF_F_CURRENT_CPU, 0, data, 8), /bpf_perf_event_output on CPU 0 outside an RCU read-side section/);
    assert.throws(() => bpf_perf_event_read(k, 0, 0, 0, BPF_F_CURRENT_CPU, 0), /bpf_perf_event_read on CPU 0 outside an RCU read-side section/);
    assert.is(kernel.inspect().cpuCounters[0]!.outputs, 0);
    assert.is(app.readRing(fd).length, 0);
    // the caller's section (the program's run, as trace_call_bpf's rcu_read_lock) is the one the output uses
    rcu_read_lock(k, 0);
    call_rcu(k, KIND, 7);
    rcu_tick(k);
    assert.is(bpf_perf_event_output(k, 0, 0, 0, BPF_F_CURRENT_CPU, 0, data, 8), 0);
    assert.equal(rcu_stalled_cpus(k), [0]);
    rcu_read_unlock(k, 0);
    assert.is(app.readRing(fd).length, 1);
    // the nesting level the helper keeps (bpf_trace_nest_level) is back to 0: a second call is not EBUSY
    rcu_read_lock(k, 0);
    assert.is(bpf_perf_event_output(k, 0, 0, 0, BPF_F_CURRENT_CPU, 0, data, 8), 0);
    rcu_read_unlock(k, 0);
    kernel.rcuBarrier();
  });

  test(`${v}: callbacks run in queue order, each after the grace period that follows its call_rcu; rcu_pending lists them`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    rcu_read_lock(k, 0);
    call_rcu(k, KIND, 10);
    rcu_tick(k); // grace period 1 starts, waits for CPU 0
    call_rcu(k, KIND, 11); // queued during it: needs the next one
    assert.equal(
      rcu_pending(k).map((p) => [p.arg, p.gp]),
      [
        [10, 2],
        [11, 4],
      ],
    );
    assert.equal(
      kernel.inspect().rcu.pending.map((p) => p.kind),
      ['?', '?'],
      'not one of the kernel kinds',
    );
    rcu_read_unlock(k, 0);
    rcu_read_lock(k, 0);
    assert.is(rcu_tick(k), 1, 'the first grace period ended; the second waits for the new section');
    assert.equal([ran, rcu_gp_seq(k)], [[10], 3]);
    rcu_read_unlock(k, 0);
    assert.is(rcu_tick(k), 1);
    assert.equal([ran, rcu_gp_seq(k), rcu_pending(k)], [[10, 11], 4, []]);
    assert.is(rcu_tick(k), 0, 'idle: no grace period without a request');
    assert.is(rcu_gp_seq(k), 4);
    synchronize_rcu(k, 1000);
    assert.is(rcu_gp_seq(k), 6, 'synchronize_rcu runs one full grace period');
  });

  test(`${v}: synchronize_rcu and rcu_barrier inside a section refuse (they would wait for themselves)`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    rcu_read_lock(k, 1);
    assert.throws(
      () => synchronize_rcu(k, 10),
      (e: { code?: string; message: string }) => e.code === 'ERR_PERFEMU_RCU_DEADLOCK' && /\(CPU 1, this thread\)/.test(e.message),
    );
    assert.throws(
      () => rcu_barrier(k, 10),
      (e: { code?: string }) => e.code === 'ERR_PERFEMU_RCU_DEADLOCK',
    );
    rcu_read_unlock(k, 1);
    synchronize_rcu(k, 1000);
  });

  test(`${v}: a CPU stuck in a section makes synchronize_rcu and rcu_barrier fail with an RCU stall naming it, after their bound`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    kernel.arena.add(ctrWord(kernel, 1), 1); // CPU 1 inside, as another thread would be
    let t0 = Date.now();
    assert.throws(
      () => kernel.synchronizeRcu(30),
      (e: { code?: string; message: string }) => e.code === 'ERR_PERFEMU_RCU_STALL' && /still in a read-side section: CPU 1$/.test(e.message),
    );
    assert.ok(Date.now() - t0 >= 30, 'not before its bound');
    assert.is(rcu_gp_seq(k), 1, 'the grace period it asked for is in progress');
    call_rcu(k, KIND, 7); // queued during it: waits for the next one
    t0 = Date.now();
    assert.throws(
      () => kernel.rcuBarrier(30),
      (e: { code?: string; message: string }) => e.code === 'ERR_PERFEMU_RCU_STALL' && /: CPU 1$/.test(e.message),
    );
    assert.ok(Date.now() - t0 >= 30, 'not before its bound');
    assert.equal(ran, []);
    kernel.arena.add(ctrWord(kernel, 1), 1); // it leaves
    assert.is(rcu_tick(k), 1, 'one tick ends that grace period, runs the next one and the callback');
    assert.equal([ran, rcu_gp_seq(k)], [[7], 4]);
    assert.equal(rcu_stalled_cpus(k), []);
  });

  test(`${v}: a full call_rcu queue is reported (violation and ENOMEM), nothing queued is lost`, () => {
    const kernel = kernelOf(v, { rcuQueue: 3 });
    const k = kernel.k;
    rcu_read_lock(k, 0);
    for (let i = 0; i < 3; i++) call_rcu(k, KIND, 20 + i);
    assert.throws(
      () => call_rcu(k, KIND, 23),
      (e: { code?: string; message: string }) =>
        e.code === 'ENOMEM' && e.message === 'call_rcu queue full (3 records): size the arena larger (limits.rcuQueue)',
    );
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.cpu, x.args[0], x.args[1]]),
      [['rcu-queue-full', -1, KIND, 23]],
    );
    rcu_read_unlock(k, 0);
    kernel.rcuBarrier();
    assert.equal(ran, [20, 21, 22]);
    for (let i = 0; i < 3; i++) call_rcu(k, KIND, 30 + i); // the ring of records wraps
    kernel.rcuBarrier();
    assert.equal(ran, [20, 21, 22, 30, 31, 32]);
  });

  test(`${v}: read-side state belongs to the kernel context: a section held in one kernel does not make another refuse to wait`, () => {
    const first = kernelOf(v);
    rcu_read_lock(first.k, 0);
    assert.throws(
      () => synchronize_rcu(first.k, 10),
      (e: { code?: string }) => e.code === 'ERR_PERFEMU_RCU_DEADLOCK',
    );
    const second = kernelOf(v);
    synchronize_rcu(second.k, 1000);
    assert.is(rcu_gp_seq(second.k), 2);
  });

  test(`${v}: rcu_stalled_cpus names only the readers still in the section the grace period waits for`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    rcu_read_lock(k, 0);
    rcu_read_lock(k, 1);
    call_rcu(k, KIND, 41);
    rcu_tick(k);
    assert.equal(rcu_stalled_cpus(k), [0, 1]);
    rcu_read_unlock(k, 0);
    assert.equal(rcu_stalled_cpus(k), [1]);
    rcu_read_lock(k, 0); // a new section: the grace period does not wait for it
    assert.equal(rcu_stalled_cpus(k), [1]);
    rcu_read_unlock(k, 1);
    assert.is(rcu_tick(k), 1);
    assert.equal(rcu_stalled_cpus(k), []);
    rcu_read_unlock(k, 0);
  });

  test(`${v}: a callback that queues another: one tick runs only what was queued before it; the next tick, or rcu_barrier, runs the rest`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    call_rcu(k, CHAIN, 50);
    synchronize_rcu(k, 1000); // its grace period has ended; the callback has not run yet
    assert.equal(ran, []);
    assert.is(rcu_tick(k), 1, 'the record queued during the tick waits for the next one');
    assert.equal(ran, [50]);
    assert.is(rcu_pending(k).length, 1);
    assert.ok(rcu_pending(k)[0]!.gp <= rcu_gp_seq(k), 'but the tick went on to run the grace period it asked for');
    kernel.rcuBarrier(1000);
    assert.equal(ran, [50, 51]);
  });

  test(`${v}: work that queues work (a prog free dropping a map's last reference): every tick ends, and rcu_barrier runs the chain without waiting for a grace period nobody asked for`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    queue_work(k, WORK_CHAIN, 1);
    for (let t = 1; t <= 3; t++) {
      assert.is(rcu_tick(k), 1, `tick ${t} runs one link`);
      assert.equal(
        ran,
        Array.from({ length: t }, (_, i) => i + 1),
      );
    }
    const seq = rcu_gp_seq(k);
    kernel.rcuBarrier(1000);
    assert.equal(ran, [1, 2, 3, 4, 5, 6]);
    assert.is(rcu_gp_seq(k), seq, 'no grace period was needed');
  });

  test(`${v}: with the gp-no-wait fault a grace period ends with a reader inside (the broken kernel the stress run must catch)`, () => {
    ran = [];
    const kernel = Kernel.create({ cpus: 2, version: v, inject: 'gp-no-wait', limits: { ringPages: 16 } });
    const k = kernel.k;
    rcu_read_lock(k, 1);
    call_rcu(k, KIND, 60);
    assert.is(rcu_tick(k), 1);
    assert.equal(ran, [60]);
    rcu_read_unlock(k, 1);
  });

  test(`${v}: a callback of a kind nobody registered is an internal error, not silently dropped`, () => {
    const kernel = kernelOf(v);
    call_rcu(kernel.k, 63, 1);
    assert.throws(
      () => kernel.rcuBarrier(1000),
      (e: { code?: string; message: string }) => e.code === 'ERR_PERFEMU_INTERNAL' && e.message === 'no RCU callback registered for kind 63',
    );
  });
  test(`${v}: call_rcu_batched queues what it gathered when it returns, in call order, for one grace period; a nested batch joins the outer one`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    call_rcu_batched(k, () => {
      call_rcu(k, KIND, 1);
      call_rcu_batched(k, () => call_rcu(k, KIND, 2));
      assert.equal(rcu_pending(k), [], 'nothing is queued before the outer batch returns');
      call_rcu(k, KIND, 3);
      assert.equal(rcu_pending(k), []);
    });
    assert.equal(
      rcu_pending(k).map((p) => [p.arg, p.gp]),
      [
        [1, 2],
        [2, 2],
        [3, 2],
      ],
    );
    assert.is(rcu_tick(k), 3);
    assert.equal([ran, rcu_gp_seq(k)], [[1, 2, 3], 2]);
  });

  test(`${v}: an empty call_rcu_batched queues nothing and asks for no grace period`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    call_rcu_batched(k, () => {});
    assert.equal(rcu_pending(k), []);
    assert.is(rcu_tick(k), 0);
    assert.is(rcu_gp_seq(k), 0, 'no grace period ran');
  });

  test(`${v}: a batch opened first thing inside another joins it, even while the outer one is still empty`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    call_rcu_batched(k, () => {
      call_rcu_batched(k, () => call_rcu(k, KIND, 1));
      assert.equal(rcu_pending(k), [], 'the inner batch queued nothing of its own');
      call_rcu(k, KIND, 2);
    });
    assert.equal(
      rcu_pending(k).map((p) => p.arg),
      [1, 2],
    );
  });

  test(`${v}: a record that needs the grace period after the one in progress runs in the same tick as the first, once both have ended`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    rcu_read_lock(k, 1);
    call_rcu(k, KIND, 1);
    assert.is(rcu_tick(k), 0, 'grace period 1 starts and waits for CPU 1');
    call_rcu(k, KIND, 2); // grace period 1 was already running: this one needs grace period 2
    assert.equal(
      rcu_pending(k).map((p) => p.gp),
      [2, 4],
    );
    rcu_read_unlock(k, 1);
    assert.is(rcu_tick(k), 2, 'one tick ends grace period 1, runs its record, then runs grace period 2 and the other');
    assert.equal(ran, [1, 2]);
  });

  test(`${v}: works that sleep in synchronize_rcu run as on separate kworkers: each to its first sleep, then one grace period for all of them, and so on`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    for (const arg of [1, 2, 3]) queue_work(k, SLEEPER, arg);
    const seq = rcu_gp_seq(k);
    assert.is(rcu_tick(k), 3);
    assert.equal(ran, [10, 20, 30, 11, 21, 31, 12, 22, 32]);
    assert.is(rcu_gp_seq(k) - seq, 4, 'two grace periods, not six');
    assert.equal(rcu_pending(k), []);
  });

  for (const [kind, when, message, mark] of [
    [THROWER, 'before', 'work failed', -1],
    [SLEEP_THROWER, 'after', 'work failed after its sleep', -2],
  ] as const) {
    test(`${v}: a work that throws ${when} its sleep does not strand the others: the ones asleep finish, the ones after it run, then its error is thrown`, () => {
      const kernel = kernelOf(v);
      const k = kernel.k;
      queue_work(k, SLEEPER, 1);
      queue_work(k, kind, 0);
      queue_work(k, SLEEPER, 3);
      assert.throws(
        () => rcu_tick(k),
        (e: Error) => e.message === message,
      );
      assert.equal(ran, [10, mark, 30, 11, 31, 12, 32]);
      assert.equal(rcu_pending(k), []);
    });
  }

  test(`${v}: rcu_barrier keeps its bound while every tick finds more to run`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    queue_work(k, RELOAD, 0);
    assert.throws(
      () => kernel.rcuBarrier(50),
      (e: { code?: string; message: string }) => e.code === 'ERR_PERFEMU_RCU_STALL' && /callbacks still pending after 50 ms/.test(e.message),
    );
    assert.ok(ran.length < 2_000_000, `it stopped at its deadline (${ran.length} works ran)`);
  });

  test(`${v}: a batch of hundreds of records (more than the gathering buffer first holds) lands whole and in order across the end of the queue's ring, each with the batch's grace period; the next batch starts empty`, () => {
    const kernel = kernelOf(v, { rcuQueue: 512 });
    const k = kernel.k;
    for (let i = 0; i < 400; i++) call_rcu(k, KIND, i);
    kernel.rcuBarrier(); // the ring's next free record is 400: a batch of 300 wraps
    ran = [];
    const seq = rcu_gp_seq(k);
    call_rcu_batched(k, () => {
      for (let i = 0; i < 300; i++) call_rcu(k, KIND, 1000 + i);
    });
    const pending = rcu_pending(k);
    assert.equal(
      pending.map((p) => p.arg),
      Array.from({ length: 300 }, (_, i) => 1000 + i),
    );
    assert.ok(
      pending.every((p) => p.gp === pending[0]!.gp && p.gp > seq),
      'one grace period, after now',
    );
    call_rcu_batched(k, () => call_rcu(k, KIND, 5));
    assert.equal(rcu_pending(k).length, 301, 'the second batch adds only its own record');
    kernel.rcuBarrier();
    assert.equal(ran.length, 301);
    assert.is(ran[300], 5);
  });

  test(`${v}: a batch that exactly fills the call_rcu queue (after the ring of records has moved) is queued; one record more is refused whole (violation and ENOMEM)`, () => {
    const kernel = kernelOf(v, { rcuQueue: 4 });
    const k = kernel.k;
    call_rcu(k, KIND, 1);
    call_rcu(k, KIND, 2);
    kernel.rcuBarrier(); // the queue is empty again, two records further on
    call_rcu_batched(k, () => {
      for (let i = 0; i < 4; i++) call_rcu(k, KIND, 10 + i);
    });
    assert.equal(
      rcu_pending(k).map((p) => p.arg),
      [10, 11, 12, 13],
    );
    kernel.rcuBarrier();
    assert.equal(ran, [1, 2, 10, 11, 12, 13]);
    call_rcu(k, KIND, 20);
    assert.throws(
      () =>
        call_rcu_batched(k, () => {
          for (let i = 0; i < 4; i++) call_rcu(k, KIND, 30 + i);
        }),
      (e: { code?: string; message: string }) =>
        e.code === 'ENOMEM' && e.message === 'call_rcu queue full (4 records): size the arena larger (limits.rcuQueue)',
    );
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.cpu, x.args[0], x.args[1]]),
      [['rcu-queue-full', -1, KIND, 30]],
    );
    assert.equal(
      rcu_pending(k).map((p) => p.arg),
      [20],
      'nothing of the refused batch is queued; what was queued is intact',
    );
    kernel.rcuBarrier();
    assert.equal(ran, [1, 2, 10, 11, 12, 13, 20]);
  });

  test(`${v}: work waits for no grace period of its own, only for the records queued ahead of it`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    queue_work(k, KIND, 1);
    assert.equal(
      rcu_pending(k).map((p) => [p.arg, p.gp]),
      [[1, 0]],
    );
    assert.is(rcu_tick(k), 1, 'an idle queue: the work runs on the next tick');
    assert.equal([ran, rcu_gp_seq(k)], [[1], 0], 'without a grace period');
    rcu_read_lock(k, 0);
    call_rcu(k, KIND, 2);
    rcu_tick(k); // grace period 1 starts, waits for CPU 0
    queue_work(k, KIND, 3);
    assert.equal(
      rcu_pending(k).map((p) => [p.arg, p.gp]),
      [
        [2, 2],
        [3, 2],
      ],
      "the work's target is the callback's ahead of it (targets never decrease along the queue)",
    );
    assert.is(rcu_tick(k), 0, 'both wait for CPU 0');
    rcu_read_unlock(k, 0);
    assert.is(rcu_tick(k), 2);
    assert.equal(ran, [1, 2, 3]);
  });

  test(`${v}: while another thread holds the grace-period lock, no tick moves a grace period, and a stall names no CPU but the lock`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    call_rcu(k, KIND, 1);
    kernel.arena.store(H_RCU_LOCK, 1); // as a thread inside rcu_gp_advance would hold it
    assert.throws(
      () => synchronize_rcu(k, 20),
      (e: { code?: string; message: string }) =>
        e.code === 'ERR_PERFEMU_RCU_STALL' && e.message.endsWith('still in a read-side section: none (another thread holds the grace-period lock?)'),
    );
    assert.is(rcu_tick(k), 0);
    assert.equal([ran, rcu_gp_seq(k)], [[], 0]);
    assert.is(kernel.arena.load(H_RCU_LOCK), 1, "the other thread's lock is left alone");
    kernel.arena.store(H_RCU_LOCK, 0); // it lets go
    assert.is(rcu_tick(k), 1);
    assert.equal(ran, [1]);
  });

  test(`${v}: rcu_barrier out of time with callbacks pending names the CPUs holding the grace period, or none`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    for (const cpu of [0, 1]) kernel.arena.add(ctrWord(kernel, cpu), 1); // both inside, as other threads would be
    call_rcu(k, KIND, 1);
    assert.throws(
      () => rcu_barrier(k, 0),
      (e: { code?: string; message: string }) =>
        e.code === 'ERR_PERFEMU_RCU_STALL' && e.message === 'rcu_barrier: callbacks still pending after 0 ms; holding the grace period: CPU 0, CPU 1',
    );
    for (const cpu of [0, 1]) kernel.arena.add(ctrWord(kernel, cpu), 1); // they leave
    kernel.arena.store(H_RCU_LOCK, 1); // another thread holds the grace-period lock
    call_rcu(k, KIND, 2);
    assert.throws(
      () => rcu_barrier(k, 0),
      (e: { message: string }) => e.message.endsWith('holding the grace period: none'),
    );
    kernel.arena.store(H_RCU_LOCK, 0);
    rcu_barrier(k, 1000);
    assert.equal(ran, [1, 2]);
  });

  test(`${v}: the refusals and the stall name every CPU in a section, in order`, () => {
    const kernel = kernelOf(v);
    const k = kernel.k;
    rcu_read_lock(k, 0);
    rcu_read_lock(k, 1);
    const inside = '(CPU 0, 1, this thread) would wait for itself forever; run it after the section ends (e.g. after the output hook returns)';
    assert.throws(
      () => synchronize_rcu(k, 10),
      (e: { message: string }) => e.message === `synchronize_rcu inside an RCU read-side section ${inside}`,
    );
    assert.throws(
      () => rcu_barrier(k, 10),
      (e: { message: string }) => e.message === `rcu_barrier inside an RCU read-side section ${inside}`,
    );
    rcu_read_unlock(k, 1);
    rcu_read_unlock(k, 0);
    kernel.arena.add(ctrWord(kernel, 0), 1); // both inside, as other threads would be
    kernel.arena.add(ctrWord(kernel, 1), 1);
    assert.throws(
      () => synchronize_rcu(k, 10),
      (e: { message: string }) => e.message === 'RCU stall: grace period not done after 10 ms; still in a read-side section: CPU 0, CPU 1',
    );
    kernel.arena.add(ctrWord(kernel, 0), 1);
    kernel.arena.add(ctrWord(kernel, 1), 1);
    synchronize_rcu(k, 1000);
  });

  test(`${v}: inspect() names each pending callback after its kernel function: ${FIXED.includes(v) ? 'entry_free' : 'entry_recycle (the perf file went at once)'}${BEHAVIOURS[v].unlinkDeferred ? ', pin_put_map of an unlinked pin' : ''}; the double-drop fault's own`, () => {
    const kernel = kernelOf(v);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    app.bpf.mapUpdateElem(m, 0, app.perfEventOpen({ cpu: 0, pages: 1 }));
    app.bpf.mapDeleteElem(m, 0);
    const want = [FIXED.includes(v) ? 'entry_free' : 'entry_recycle'];
    app.bpf.objPin(m, '/sys/fs/bpf/m');
    app.unlink('/sys/fs/bpf/m');
    if (BEHAVIOURS[v].unlinkDeferred) want.push('pin_put_map');
    assert.equal(
      kernel.inspect().rcu.pending.map((p) => p.kind),
      want,
    );
    kernel.rcuBarrier();
    const broken = Kernel.create({ cpus: 1, version: v, inject: 'double-drop', limits: { ringPages: 16 } });
    const b = broken.process('app');
    const bm = perfArray(b, 1);
    b.bpf.mapUpdateElem(bm, 0, b.perfEventOpen({ cpu: 0, pages: 1 }));
    b.bpf.mapDeleteElem(bm, 0);
    assert.equal(
      broken.inspect().rcu.pending.map((p) => p.kind),
      ['entry_free_twice (fault)'],
    );
  });
}

test.run();
