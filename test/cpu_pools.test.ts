/**
 * CPU pools as a script uses them: several pools on one kernel, each with its own stop and
 * pause, never two on one CPU; and a pool nobody waits for still lets the process exit.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CpuPool } from '../src/cpus.js';
import type { Kernel } from '../src/index.js';
import { mk, perfArray, throwsCode } from './fixtures/scenario.js';
import { assertNoWorkers } from './fixtures/workers.js';

function setup(cpus: number) {
  const kernel = mk('6.18', cpus);
  const p = kernel.process('consumer');
  const m = perfArray(p, cpus);
  for (let cpu = 0; cpu < cpus; cpu++) p.bpf.mapUpdateElem(m, cpu, p.perfEventOpen({ cpu, pages: 1, wakeupEvents: 0 }));
  const prog = p.bpf.progLoad({ maps: [m] });
  return { kernel, prog };
}

/** outputs attempted on `cpu` so far (written, lost or refused) */
function attempts(kernel: Kernel, cpu: number): number {
  const c = kernel.inspect().cpuCounters[cpu]!;
  return c.outputs + c.lost + c.ENOSPC + c.ENOENT;
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('two pools on one kernel: stopping one leaves the other running, pausing one holds only its CPUs', async () => {
  const { kernel, prog } = setup(2);
  const a = CpuPool.start(kernel, { prog, program: { backoffUs: 200 }, cpus: [0] });
  const b = CpuPool.start(kernel, { prog, program: { backoffUs: 200 }, cpus: [1], paused: true });
  try {
    await a.ready();
    await b.ready();
    await until('CPU 0 to write', () => attempts(kernel, 0) > 0);
    assert.is(attempts(kernel, 1), 0, "b starts paused; a's start did not release it");
    a.pause();
    b.resume();
    await until('CPU 1 to write', () => attempts(kernel, 1) > 0);
    await new Promise((r) => setTimeout(r, 50)); // a holds within 64 attempts of its pause
    const held = attempts(kernel, 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.is(attempts(kernel, 0), held, "b's resume did not release a");
    a.resume();
    b.stop();
    const [rb] = await b.wait();
    const n0 = attempts(kernel, 0);
    await until('CPU 0 to go on after b stopped', () => attempts(kernel, 0) > n0);
    assert.ok(rb!.attempts > 0);
  } finally {
    a.stop();
    b.stop();
    await Promise.allSettled([a.wait(), b.wait()]);
  }
  assertNoWorkers();
});

test('a CPU runs one pool at a time: a second pool on it is refused by name until the first has ended', async () => {
  const { kernel, prog } = setup(2);
  const a = CpuPool.start(kernel, { prog, program: { backoffUs: 200 }, cpus: [0, 1] });
  try {
    throwsCode(() => CpuPool.start(kernel, { prog, program: { records: 1 }, cpus: [1] }), 'ERR_PERFEMU_CPU_BUSY');
  } finally {
    a.stop();
    await a.wait();
  }
  const [r] = await CpuPool.start(kernel, { prog, program: { records: 5 }, cpus: [1] }).wait();
  assert.is(r!.attempts, 5, 'free again once the first pool ended');
  // and after a crash: the CPUs and the program's attachment are released
  const crash = fileURLToPath(new URL('./fixtures/crash_program.js', import.meta.url));
  const k3 = setup(3);
  const refs = () => k3.kernel.inspect().progs[0]!.refcnt;
  const before = refs();
  const c = CpuPool.start(k3.kernel, { prog: k3.prog, program: { module: crash } });
  await c.wait().then(
    () => assert.unreachable('CPU 2 crashes'),
    (e: { cpu?: number }) => assert.is(e.cpu, 2),
  );
  assert.is(refs(), before, "the pool's attachment dropped");
  const [again] = await CpuPool.start(k3.kernel, { prog: k3.prog, program: { records: 3 }, cpus: [2] }).wait();
  assert.is(again!.attempts, 3, 'CPU 2 free again after the crash');
  assertNoWorkers();
});

const script = fileURLToPath(new URL('./fixtures/pool_no_wait.js', import.meta.url));
for (const mode of ['records', 'stop', 'crash', 'apps']) {
  test(`a script that never calls wait() exits by itself (${mode})`, async () => {
    const t0 = Date.now();
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = execFile(process.execPath, [script, mode], { timeout: 30_000 }, (e, stdout, stderr) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, out: stdout, err: stderr }),
      );
      child.stdin?.end();
    });
    assert.is(out.trim(), 'started');
    assert.is(code, 0, `exit code (after ${Date.now() - t0} ms; killed at 30 s means it hung)`);
    // a crash nobody waited for is not silent: a warning names the CPU
    if (mode === 'crash') assert.match(err, /PERFEMU_CPU_CRASHED.*CPU 2: bad instruction at insn 17 \(the CpuPool's wait\(\) was not called\)/);
    else assert.not.match(err, /PERFEMU_CPU_CRASHED/);
  });
}

test.run();
