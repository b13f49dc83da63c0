/**
 * PerfBuffer under misuse: a failed open leaves nothing installed, options that would silently
 * do the wrong thing are refused by name, and a callback that throws loses no ring's readiness.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, PerfBuffer } from '../src/index.js';
import { mk, payload, perfArray } from './fixtures/scenario.js';

function setup(cpus: number, mapSize = cpus) {
  const kernel = mk('6.18', cpus);
  const app = kernel.process('app');
  const m = perfArray(app, mapSize);
  const prog = app.bpf.progLoad({ maps: [m] });
  const out = (cpu: number) => kernel.cpu(cpu).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(16, cpu));
  return { kernel, app, m, out };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

test('a failure after some CPUs were installed deletes their slots too: outputs there get ENOENT, no event is left', () => {
  const { kernel, app, m, out } = setup(4, 2);
  const before = kernel.inspect();
  // CPU 0 goes in; CPU 3 is past the map's two slots (E2BIG on its update)
  assert.is(
    code(() => PerfBuffer.open(app, m, { cpus: [0, 3] })),
    'E2BIG',
  );
  kernel.rcuBarrier(); // the deleted entry's reference on its event goes after a grace period
  const s = kernel.inspect();
  assert.equal(s.maps[0]!.slots, before.maps[0]!.slots, 'the slots as before');
  assert.equal(
    s.perfEvents.filter((e) => e.alive),
    [],
  );
  assert.equal(
    s.files.filter((f) => f.kind === 'epoll'),
    [],
  );
  assert.is(out(0), -2, 'ENOENT: nothing in slot 0');
  // and the same map can be opened afterwards
  PerfBuffer.open(app, m, { cpus: [0, 1] }).close();
});

test('refused by name before anything is opened: a repeated CPU, pages for a CPU with no buffer, 0 or 3 pages, both sample callbacks', () => {
  const { kernel, app, m } = setup(2);
  const before = JSON.stringify(kernel.inspect());
  const cases: [string, () => unknown, string, RegExp][] = [
    ['repeat', () => PerfBuffer.open(app, m, { cpus: [1, 1] }), 'ERR_INVALID_ARG_VALUE', /"cpus".*repeat/],
    ['pages key', () => PerfBuffer.open(app, m, { cpus: [0], pages: { 1: 4 } }), 'ERR_INVALID_ARG_VALUE', /"pages\[1\]".*CPU 1/],
    ['0 pages', () => PerfBuffer.open(app, m, { pages: 0 }), 'EINVAL', /pages = 0.*power of two/],
    ['3 pages', () => PerfBuffer.open(app, m, { pages: { 1: 3 } }), 'EINVAL', /pages\[1\] = 3.*power of two/],
    ['both callbacks', () => PerfBuffer.open(app, m, { onSample: () => {}, onSampleAt: () => {} }), 'ERR_INVALID_ARG_VALUE', /"onSampleAt".*onSample/],
  ];
  for (const [what, fn, c, msg] of cases) {
    try {
      fn();
      assert.unreachable(what);
    } catch (e) {
      assert.is((e as { code?: string }).code, c, what);
      assert.match((e as Error).message, msg, what);
    }
  }
  assert.is(JSON.stringify(kernel.inspect()), before, 'state intact');
});

test("poll: a typo'd key or an object with neither timeoutMs nor deadline is refused, not taken as 'do not wait'", () => {
  const { app, m } = setup(1);
  const pb = PerfBuffer.open(app, m, {});
  assert.is(
    code(() => pb.poll({ timout: 50 } as unknown as { timeoutMs: number })),
    'ERR_INVALID_ARG_VALUE',
  );
  assert.is(
    code(() => pb.poll({})),
    'ERR_INVALID_ARG_VALUE',
  );
  pb.setDeadline(Date.now() - 1);
  assert.is(pb.poll({}), 0, 'with a deadline set, {} waits until it');
  pb.close();
});

test('a sample callback that throws: the error comes out of poll, and the next poll drains every ring (the thrown-on ring from its first unread record)', () => {
  const { app, m, out } = setup(2);
  const got: number[] = [];
  let failOnce = true;
  const pb = PerfBuffer.open(app, m, {
    onSample: (cpu) => {
      if (failOnce) {
        failOnce = false;
        throw new Error('callback failed');
      }
      got.push(cpu);
    },
  });
  out(0);
  out(1);
  assert.throws(() => pb.poll(0), /callback failed/);
  assert.is(pb.poll(0), 2, 'both rings drained');
  assert.equal(got.sort(), [0, 1], "CPU 1's record was not left behind, and CPU 0's came again");
  assert.is(pb.poll(0), 0, 'nothing left');
  pb.close();
});

test("flushFrom with a closed buffer's handle, or one that names no instance, is refused; typo'd keys of mmap and lab options are named", async () => {
  const { kernel, app, m } = setup(1);
  const pb = PerfBuffer.open(app, m, {});
  const h = pb.flushHandle();
  PerfBuffer.flushFrom(kernel, h); // a live one works
  assert.is(pb.poll(0), 1, 'the flush drained the one buffer');
  pb.close();
  assert.is(
    code(() => PerfBuffer.flushFrom(kernel, h)),
    'ERR_PERFEMU_CLOSED',
  );
  assert.is(
    code(() => PerfBuffer.flushFrom(kernel, { epoll: h.epoll + 5 })),
    'ERR_PERFEMU_CLOSED',
  );
  const fd = app.perfEventOpen({ cpu: 0, wakeupEvents: 0 });
  let err: (Error & { code?: string }) | undefined;
  try {
    app.mmap(fd, 8, { wirte: false } as unknown as { write: boolean });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  assert.is(err?.code, 'ERR_INVALID_ARG_VALUE');
  assert.match(err!.message, /unknown key 'wirte'; did you mean 'write'/);
  const { lab } = await import('../src/index.js');
  await lab({ cpus: 1, pagez: [8] } as unknown as { cpus: number }).then(
    () => assert.unreachable('lab took pagez'),
    (e: Error & { code?: string }) => {
      assert.is(e.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(e.message, /unknown key 'pagez'; did you mean 'pages'/);
    },
  );
});

test.run();
