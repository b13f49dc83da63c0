/**
 * The kernel's own violation log (where the real kernel would BUG_ON or WARN): each report
 * keeps its kind, CPU, four arguments and time, in order; a full log keeps the first ones and
 * drops the rest; and which violation is the emulated kernel's own behaviour (4.7's immediate
 * fput) rather than a bug. Per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kernel } from '../src/index.js';
import { report_violation } from '../src/kernel/violation.js';
import { PROVENANCE_REASON, VIOLATION_KINDS, isOldKernelBehaviour as is_old_kernel_behaviour, type Violation } from '../src/invariants/registry.js';
import { epoll_wake_word } from '../src/kernel/eventpoll.js';
import { file_obj } from '../src/kernel/file.js';
import { VERSIONS } from './fixtures/scenario.js';

for (const v of VERSIONS) {
  test(`${v}: violations are logged in order with their CPU, arguments and time; a full log keeps the first ones`, () => {
    const kernel = Kernel.create({ cpus: 2, version: v, limits: { ringPages: 16, violationLog: 3 } });
    const k = kernel.k;
    assert.equal(kernel.violations(), []);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // let the kernel be at least 5 ms old
    report_violation(k, 'double-put', 1, 10, 11, 12, 13);
    report_violation(k, 'map-free-not-empty', -1, 20);
    report_violation(k, 'use-after-free-entry', 0, 30, 31, 32, 33);
    report_violation(k, 'refcount-underflow', 1, 40);
    const got = kernel.violations();
    assert.equal(
      got.map((x) => [x.kind, x.cpu, x.args]),
      [
        ['double-put', 1, [10, 11, 12, 13]],
        ['map-free-not-empty', -1, [20, 0, 0, 0]],
        ['use-after-free-entry', 0, [30, 31, 32, 33]],
      ],
    );
    for (const x of got) assert.ok(x.timeMs >= 5 && x.timeMs < 60_000, `ms since the kernel was created: ${x.timeMs}`);
    assert.equal(
      kernel.inspect().violations.map((x) => x.kind),
      ['double-put', 'map-free-not-empty', 'use-after-free-entry'],
    );
  });

  test(`${v}: reports past a full log are counted but written nowhere (the epoll instance after the log keeps working)`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, violationLog: 2, maxEpoll: 1 } });
    const app = kernel.process('app');
    const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const prog = app.bpf.progLoad({ maps: [m] });
    const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.bpf.mapUpdateElem(m, 0, fd);
    const ep = app.epollCreate();
    app.epollCtlAdd(ep, fd);
    const word = epoll_wake_word(kernel.k, file_obj(kernel.k, app.fileIndex(ep)));
    const before = kernel.arena.load(word);
    for (let i = 0; i < 4; i++) report_violation(kernel.k, 'double-put', 9, 99, 99, 99, 99);
    assert.is(kernel.violations().length, 2);
    kernel.cpu(0).perfEventOutput(prog, 0, 0, Uint8Array.of(1));
    assert.is(kernel.arena.load(word), before + 1);
    assert.equal(app.epollWait(ep, 0), [{ fd, revents: 1 }]);
  });

  test(`${v}: only 4.7's use of a perf event after its immediate fput is the old kernel's own behaviour`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16 } });
    const viol = (kind: Violation['kind']): Violation => ({ kind, cpu: 0, args: [0, 0, 0, 0], timeMs: 0 });
    assert.is(is_old_kernel_behaviour(kernel.k.b, viol('use-after-free-event')), v === '4.7');
    for (const kind of VIOLATION_KINDS) {
      if (kind !== 'use-after-free-event') assert.is(is_old_kernel_behaviour(kernel.k.b, viol(kind)), false, kind);
    }
  });

  test(`${v}: a record of another CPU in a CPU's ring is the old kernel's only on 4.7, and only after its writer used a freed event`, () => {
    const kernel = Kernel.create({ cpus: 4, version: v, limits: { ringPages: 16 } });
    const b = kernel.k.b;
    const uaf = (cpu: number, timeMs: number): Violation => ({ kind: 'use-after-free-event', cpu, args: [5, 1, 2, 0], timeMs });
    // ring of CPU 3; record written by CPU 1, sequence 7
    const misrouted: Violation = { kind: 'provenance', cpu: 3, args: [PROVENANCE_REASON.MISROUTED, 40, 1, 7], timeMs: 10 };
    assert.is(is_old_kernel_behaviour(b, misrouted, [uaf(1, 9), misrouted]), v === '4.7', 'after the writer used a freed event');
    assert.is(is_old_kernel_behaviour(b, misrouted, [misrouted]), false, 'no such use');
    assert.is(is_old_kernel_behaviour(b, misrouted, [uaf(2, 9), misrouted]), false, 'another CPU used a freed event');
    assert.is(
      is_old_kernel_behaviour(b, misrouted, [misrouted, uaf(1, 11)]),
      v === '4.7',
      'the CPU reports its use just after it publishes: a reader may be first',
    );
    assert.is(is_old_kernel_behaviour(b, misrouted, [misrouted, uaf(1, 1500)]), false, 'a use long after the record was read is another one');
    const torn: Violation = { ...misrouted, args: [PROVENANCE_REASON.TORN, 40, 1, 7] };
    assert.is(is_old_kernel_behaviour(b, torn, [uaf(1, 9), torn]), false, "a torn record is never the old kernel's");
  });
}

test.run();
