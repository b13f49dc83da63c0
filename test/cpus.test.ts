/**
 * Simulated CPUs on real threads (piscina workers) writing through the same helper, consumers
 * draining concurrently, apps in workers exiting mid-run. Every test ends with no worker left.
 */
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPool } from '../src/apps.js';
import { CpuPool, type CpuResult } from '../src/cpus.js';
import { Kernel, type KernelVersion, verifyRecord } from '../src/index.js';
import { RC_CTR } from '../src/arena/layout.js';
import { rcuReaderWord } from '../src/arena/records.js';
import { mk, perfArray, throwsCode } from './fixtures/scenario.js';
import { assertNoWorkers, drainer } from './fixtures/workers.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));

function setup(version: KernelVersion, cpus: number, pages: number) {
  const kernel = mk(version, cpus);
  const p = kernel.process('consumer');
  const m = perfArray(p, cpus);
  const prog = p.bpf.progLoad({ maps: [m] });
  const cpuList = Array.from({ length: cpus }, (_, c) => c);
  const fds = cpuList.map((cpu) => {
    const fd = p.perfEventOpen({ cpu, pages, wakeupEvents: 0 });
    p.bpf.mapUpdateElem(m, cpu, fd);
    return fd;
  });
  return { kernel, p, m, prog, fds, cpuList };
}

async function runWhileDraining(pool: CpuPool, drain: () => void): Promise<CpuResult[]> {
  const iv = setInterval(drain, 1);
  try {
    return await pool.wait();
  } finally {
    clearInterval(iv);
    drain();
  }
}

for (const version of ['4.8', '6.18'] as KernelVersion[]) {
  test(`${version}: demux: 4 CPU workers write with BPF_F_CURRENT_CPU; each ring holds only its CPU's records, whole, with sequence gaps only where losses were reported`, async () => {
    const { kernel, p, prog, fds, cpuList } = setup(version, 4, 4);
    try {
      const { drain, streams } = drainer(p, fds, cpuList);
      const pool = CpuPool.start(kernel, { prog, program: { records: 20_000, size: [16, 200], seed: 7 } });
      const results = await runWhileDraining(pool, drain);
      const snap = kernel.inspect();
      results.forEach((r, i) => {
        const st = streams[i]!;
        assert.equal(st.bad, [], `CPU ${i}: no torn, misrouted or reordered record`);
        assert.is(r.attempts, 20_000);
        const pending = snap.perfEvents.find((e) => e.cpu === i)!.ring!.lostPending;
        const missing = st.gaps + (r.attempts - st.next); // skipped inside, and at the end
        assert.is(missing, st.lostReported + pending, `CPU ${i}: every missing record was lost and reported (or pending)`);
        assert.is(snap.cpuCounters[i]!.lost, st.lostReported + pending);
        assert.is(st.received, snap.cpuCounters[i]!.outputs);
      });
      assert.equal(kernel.violations(), []);
    } finally {
      assertNoWorkers();
    }
  });
}

for (const version of ['4.7', '4.8', '6.18'] as KernelVersion[]) {
  test(`${version}: conservation with a ring small enough to overflow: read + lost reported + lost pending = successful outputs + lost`, async () => {
    const { kernel, p, prog, fds, cpuList } = setup(version, 2, 1);
    const { drain, streams } = drainer(p, fds, cpuList);
    const pool = CpuPool.start(kernel, { prog, program: { records: 30_000, size: 48 } });
    const results = await pool.wait(); // nobody drains while they write: most are lost
    drain();
    const snap = kernel.inspect();
    for (const c of cpuList) {
      const st = streams[c]!;
      const pending = snap.perfEvents.find((e) => e.cpu === c)!.ring!.lostPending;
      const k = snap.cpuCounters[c]!;
      assert.ok(k.lost > 0, 'the ring overflowed');
      assert.is(st.received + st.lostReported + pending, k.outputs + k.lost);
      assert.is(k.outputs + k.lost, 30_000, 'every attempt reached the ring');
      assert.is(results[c]!.errors.ENOSPC ?? 0, version === '6.18' ? k.lost : 0, '-ENOSPC only from 5.10 on');
      assert.equal(st.bad, []);
    }
    assertNoWorkers();
  });
}

test('6.18: an app exits during the run: its slots are purged, nothing lands in its events afterwards, they are freed after a grace period; the other app keeps its stream', async () => {
  const kernel = mk('6.18', 4);
  const loader = kernel.process('loader');
  const m = perfArray(loader, 4);
  loader.bpf.objPin(m, '/sys/fs/bpf/t');
  const prog = loader.bpf.progLoad({ maps: [m] });
  const apps = AppPool.start(kernel, {
    pinPath: '/sys/fs/bpf/t',
    apps: [
      { name: 'a0', cpus: [0, 2] },
      { name: 'a1', cpus: [1, 3] },
    ],
    pages: 8,
    wakeupEvents: 0,
    watermark: 8192,
  });
  let cpus: CpuPool | undefined;
  try {
    await apps.ready();
    const a0 = apps.live()[0]!;
    cpus = CpuPool.start(kernel, { prog, program: { rate: 20_000, size: 64 } });
    await cpus.ready();
    await new Promise((r) => setTimeout(r, 300));
    apps.exit(0);
    await apps.exited(0);
    // an output that loaded a0's ring before the unmap may still finish writing into it (the
    // ring is RCU-protected, as in the kernel): from a grace period on, nothing can land
    kernel.synchronizeRcu();
    const after = kernel.inspect();
    assert.equal([after.maps[0]!.slots[0], after.maps[0]!.slots[2]], [null, null], "a0's slots purged at its exit");
    assert.ok(after.maps[0]!.slots[1] && after.maps[0]!.slots[3], "a1's slots untouched");
    await new Promise((r) => setTimeout(r, 300));
    const later = kernel.inspect();
    for (const c of [0, 2]) {
      assert.is(later.cpuCounters[c]!.outputs, after.cpuCounters[c]!.outputs, `nothing lands for CPU ${c} after the exit`);
      assert.ok(later.cpuCounters[c]!.ENOENT > after.cpuCounters[c]!.ENOENT, `CPU ${c} now gets ENOENT`);
    }
    cpus.stop();
    await cpus.wait();
    cpus = undefined;
    const results = await apps.wait();
    kernel.rcuBarrier();
    const end = kernel.inspect();
    for (const pc of a0.perCpu) assert.is(end.perfEvents.find((e) => e.id === pc.event)!.alive, false, `a0's event #${pc.event} freed`);
    const a1 = results[1]!;
    assert.ok(a1.received > 5000, `a1 kept receiving (${a1.received})`);
    assert.equal([a1.bad, a1.gaps], [0, a1.lost], 'no loss beyond the reported');
    assert.equal(kernel.violations(), []);
  } finally {
    if (cpus) {
      cpus.stop();
      await cpus.wait().catch(() => undefined);
    }
    await apps.wait().catch(() => undefined);
    assertNoWorkers();
  }
});

test('CPUs writing back to back report quiescent states: grace periods end while they run, and a paused or stopped CPU is outside its section', async () => {
  // Each CPU's loop holds one read-side section over up to 64 outputs and leaves it at every
  // 64th attempt and before any sleep. With full rings and no back-off the CPUs never sleep:
  // only those exits let a grace period end.
  const { kernel, prog, cpuList } = setup('6.18', 2, 1);
  const ctr = (cpu: number) => Atomics.load(kernel.arena.i32, rcuReaderWord(kernel.arena.L, cpu, RC_CTR));
  const pool = CpuPool.start(kernel, { prog, program: { size: 64, payload: 'constant' } });
  try {
    await pool.ready();
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 20; i++) kernel.synchronizeRcu(2000); // throws on timeout
    pool.pause();
    await new Promise((r) => setTimeout(r, 100));
    for (const cpu of cpuList) assert.is(ctr(cpu) & 1, 0, `paused CPU ${cpu} is outside its read-side section`);
    const lost = kernel.inspect().cpuCounters.map((c) => c.lost);
    assert.ok(
      lost.every((n) => n > 64),
      `the rings were full, the CPUs kept trying (lost ${lost})`,
    );
    pool.resume();
    await new Promise((r) => setTimeout(r, 20));
    kernel.synchronizeRcu(2000);
  } finally {
    pool.stop();
    await pool.wait();
    assertNoWorkers();
  }
  for (const cpu of cpuList) assert.is(ctr(cpu) & 1, 0, `stopped CPU ${cpu} is outside its read-side section`);
  assert.equal(kernel.violations(), []);
});

test("an explicit index to another CPU's event is refused with EOPNOTSUPP and nothing lands there", async () => {
  const { kernel, p, prog, fds } = setup('6.18', 2, 2);
  const pool = CpuPool.start(kernel, { prog, program: [{ records: 100 }, { index: 0, records: 500 }] });
  const [r0, r1] = await pool.wait();
  assert.equal([r0!.ok, r1!.ok, r1!.errors.EOPNOTSUPP], [100, 0, 500]);
  assert.is(p.readRing(fds[0]!).length, 100, "only CPU 0's own records");
  assertNoWorkers();
});

test("'random' indices and a ring left full: every attempt is counted once, by its errno, the same for the same seed", async () => {
  // 2 slots, indices drawn from [0, 65536): nearly all E2BIG; the rest land or find CPU 0's
  // one-page ring full (ENOSPC on 6.18, a backoff each) or the other CPU's event (EOPNOTSUPP)
  const run = async (): Promise<CpuResult> => {
    const { kernel, prog } = setup('6.18', 2, 1);
    const pool = CpuPool.start(kernel, { prog, program: [{ index: 'random', records: 3000, seed: 5, backoffUs: 10 }, { records: 0 }] });
    const [r0] = await pool.wait();
    const out = kernel.inspect().cpuCounters[0]!;
    const sum = r0!.ok + Object.values(r0!.errors).reduce((a, b) => a + b, 0);
    assert.equal([r0!.attempts, sum], [3000, 3000], 'each attempt counted once');
    assert.is(r0!.ok, out.outputs, 'ok is what the CPU wrote');
    assert.is(r0!.errors.E2BIG, 3000 - r0!.ok - (r0!.errors.ENOSPC ?? 0) - (r0!.errors.EOPNOTSUPP ?? 0));
    assert.ok(r0!.errors.E2BIG! > 2900, `E2BIG ${r0!.errors.E2BIG}`);
    return r0!;
  };
  const a = await run();
  const b = await run();
  assert.equal([a.ok, a.errors], [b.ok, b.errors], 'the same seed draws the same indices');
  assertNoWorkers();
});

test("a size range draws each record's length from the seed; every record reads back whole", async () => {
  const { kernel, p, prog, fds } = setup('6.18', 1, 64);
  const pool = CpuPool.start(kernel, { prog, program: { records: 500, size: [16, 300], seed: 9 } });
  const [r] = await pool.wait();
  assert.equal([r!.attempts, r!.ok], [500, 500]);
  const recs = p.readRing(fds[0]!);
  assert.is(recs.length, 500);
  const lens = new Set<number>();
  for (const rec of recs) {
    const c = verifyRecord((rec as { data: Uint8Array }).data);
    assert.ok(c.ok, JSON.stringify(c));
    if (c.ok) lens.add(c.len);
  }
  assert.ok(lens.size > 100, `${lens.size} distinct lengths`);
  assert.equal(kernel.violations(), []);
  assertNoWorkers();
});

test('a crashing program is reported with its CPU, the other CPUs are stopped, nothing hangs', async () => {
  const { kernel, prog } = setup('6.18', 4, 2);
  const pool = CpuPool.start(kernel, { prog, program: { module: fixture('crash_program') } });
  try {
    await pool.wait();
    assert.unreachable('must reject');
  } catch (e) {
    const err = e as { code: string; cpu: number; message: string };
    assert.equal([err.code, err.cpu], ['ERR_PERFEMU_CPU_CRASHED', 2]);
    assert.match(err.message, 'CPU 2: bad instruction at insn 17');
  }
  assert.is(kernel.inspect().progs[0]!.refcnt, 1, 'the attachment let go of the program; only its fd holds it');
  assertNoWorkers();
});

test('a program that ignores the stop word is terminated after stopTimeoutMs and reported', async () => {
  const { kernel, prog } = setup('6.18', 2, 2);
  const pool = CpuPool.start(kernel, { prog, program: { module: fixture('stubborn_program') }, stopTimeoutMs: 300 });
  setTimeout(() => pool.stop(), 50);
  const t0 = Date.now();
  await pool.wait().then(
    () => assert.unreachable('must reject'),
    (e: { code: string; message: string }) => {
      assert.is(e.code, 'ERR_PERFEMU_CPU_CRASHED');
      assert.match(e.message, 'did not stop within 300 ms');
    },
  );
  assert.ok(Date.now() - t0 < 5000);
  assertNoWorkers();
});

test('a user module program writes through the same helper: its records arrive whole in its own CPU ring', async () => {
  const { kernel, p, prog, fds, cpuList } = setup('6.18', 3, 16); // 64 KiB > 1000 x 56 B: no loss possible
  const { drain, streams } = drainer(p, fds, cpuList);
  const pool = CpuPool.start(kernel, { prog, program: { module: fixture('record_program'), args: { records: 1000, len: 40 } } });
  await runWhileDraining(pool, drain);
  assert.equal(
    streams.map((s) => [s.received, s.bad.length]),
    [
      [1000, 0],
      [1000, 0],
      [1000, 0],
    ],
  );
  assertNoWorkers();
});

test('CpuPool.start refuses bad options, naming them', () => {
  const { kernel, prog } = setup('6.18', 2, 1);
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return `${(e as { code: string }).code}: ${(e as Error).message}`;
    }
    return 'no error';
  };
  assert.match(
    code(() => CpuPool.start(kernel, { prog, program: { size: 8 } })),
    /ERR_OUT_OF_RANGE.*program\[0\]\.size/,
  );
  assert.match(
    code(() => CpuPool.start(kernel, { prog, program: {}, cpus: [0, 5] })),
    /ERR_OUT_OF_RANGE.*cpus\[1\]/,
  );
  assert.match(
    code(() => CpuPool.start(kernel, { prog, program: [{}, {}, {}] })),
    /ERR_INVALID_ARG_VALUE.*program/,
  );
  assert.match(
    code(() => CpuPool.start(kernel, { prog: 99, program: {} })),
    /EBADF/,
  );
  assertNoWorkers();
});

test('CpuPool runs programs only on online CPUs: the default is the online ones, an offline one is refused', async () => {
  const kernel = Kernel.create({ cpus: 3, online: [0, 2], limits: { ringPages: 64 } });
  const app = kernel.process('app');
  const m = perfArray(app, 3);
  const prog = app.bpf.progLoad({ maps: [m] });
  throwsCode(() => CpuPool.start(kernel, { prog, program: { records: 1 }, cpus: [1] }), 'ERR_PERFEMU_CPU_OFFLINE');
  const pool = CpuPool.start(kernel, { prog, program: { records: 3 } });
  assert.equal(pool.cpus, [0, 2]);
  const res = await pool.wait();
  assert.equal(
    res.map((r) => [r.cpu, r.attempts]),
    [
      [0, 3],
      [2, 3],
    ],
  );
  assert.is(kernel.inspect().cpuCounters[1]!.ENOENT + kernel.inspect().cpuCounters[1]!.outputs, 0, 'CPU 1 ran nothing');
  assertNoWorkers();
});

test.run();
