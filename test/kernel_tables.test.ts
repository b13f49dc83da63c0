/**
 * What a syscall gives back when the file table is full (EMFILE after the object was made):
 * map_create (kernel/bpf/syscall.c) drops the map it made, perf_event_open
 * (kernel/events/core.c) the event, epoll_create (fs/eventpoll.c) the instance, BPF_PROG_LOAD
 * the program and, a grace period later, its map references. Nothing leaks, so the tables do
 * not fill up with dead objects. And struct file's reference count (fs/file_table.c): release
 * runs once, at the last put; a put too many is reported, not run twice. Per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kernel, type KernelVersion } from '../src/index.js';
import { FILE_KIND_REGULAR, FMODE_READ } from '../src/arena/layout.js';
import { alloc_file, file_live, fput, get_file, register_file_release } from '../src/kernel/file.js';
import { VERSIONS, fillFileTable, perfArray, throwsCode } from './fixtures/scenario.js';

/** a kernel whose file table has `maxFiles` records (one is the console) */
function small(v: KernelVersion, limits: Record<string, number>) {
  const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, ...limits } });
  const app = kernel.process('app');
  const fill = () => fillFileTable(app);
  return { kernel, app, fill };
}

for (const v of VERSIONS) {
  test(`${v}: map_create with the file table full is EMFILE and frees the map it made (the map table does not fill up)`, () => {
    const { kernel, app, fill } = small(v, { maxFiles: 8, maxMaps: 2 });
    const free = fill();
    for (let i = 0; i < 3; i++) {
      throwsCode(() => perfArray(app, 4), 'EMFILE', `attempt ${i}`);
      kernel.rcuTick(); // the failed map's free is deferred work (bpf_map_free_deferred); let it run
    }
    kernel.rcuBarrier();
    assert.equal(
      kernel.inspect().maps.filter((m) => m.alive),
      [],
      'no map left behind',
    );
    free();
    const m = perfArray(app, 4);
    const live = kernel.inspect().maps.filter((x) => x.alive);
    assert.equal(
      live.map((x) => [x.refcnt, x.usercnt]),
      [[1, 1]],
    );
    app.close(m);
    kernel.rcuBarrier();
    assert.equal(
      kernel.inspect().maps.filter((x) => x.alive),
      [],
    );
  });

  test(`${v}: perf_event_open with the file table full is EMFILE and the event is dead (the event table does not fill up)`, () => {
    const { kernel, app, fill } = small(v, { maxFiles: 8, maxEvents: 2 });
    const free = fill();
    for (let i = 0; i < 3; i++) throwsCode(() => app.perfEventOpen({ cpu: 0, mmap: false }), 'EMFILE', `attempt ${i}`);
    assert.equal(
      kernel.inspect().perfEvents.filter((e) => e.alive),
      [],
    );
    free();
    const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
    assert.equal(
      kernel
        .inspect()
        .perfEvents.filter((e) => e.alive)
        .map((e) => e.mmaps),
      [1],
    );
    app.close(fd);
  });

  test(`${v}: epoll_create with the file table full is EMFILE and frees its instance (the epoll table does not fill up)`, () => {
    const { app, fill } = small(v, { maxFiles: 8, maxEpoll: 1 });
    const free = fill();
    for (let i = 0; i < 3; i++) throwsCode(() => app.epollCreate(), 'EMFILE', `attempt ${i}`);
    free();
    const ep = app.epollCreate();
    app.close(ep);
    app.close(app.epollCreate()); // the released instance is free again
    throwsCode(
      () => {
        app.epollCreate();
        app.epollCreate();
      },
      'ENOMEM',
      'one instance only',
    );
  });

  test(`${v}: BPF_PROG_LOAD with the file table full is EMFILE; the program is freed after a grace period and drops its map reference`, () => {
    const { kernel, app, fill } = small(v, { maxFiles: 8, maxProgs: 1 });
    const m = perfArray(app, 4);
    const free = fill();
    throwsCode(() => app.bpf.progLoad({ maps: [m, m] }), 'EMFILE');
    kernel.rcuBarrier();
    assert.equal(
      kernel.inspect().progs.filter((p) => p.alive),
      [],
    );
    assert.equal(
      kernel
        .inspect()
        .maps.filter((x) => x.alive)
        .map((x) => x.refcnt),
      [1],
      'one put per distinct map',
    );
    free();
    const prog = app.bpf.progLoad({ maps: [m, m] });
    assert.equal(
      kernel
        .inspect()
        .maps.filter((x) => x.alive)
        .map((x) => x.refcnt),
      [2],
    );
    assert.equal(
      kernel
        .inspect()
        .progs.filter((p) => p.alive)
        .map((p) => p.refcnt),
      [1],
    );
    app.close(prog);
    assert.equal(
      kernel
        .inspect()
        .maps.filter((x) => x.alive)
        .map((x) => x.refcnt),
      [2],
      'held until the grace period',
    );
    kernel.rcuBarrier();
    assert.equal(
      kernel
        .inspect()
        .maps.filter((x) => x.alive)
        .map((x) => x.refcnt),
      [1],
    );
    assert.equal(kernel.inspect().violations, []);
  });

  test(`${v}: a file allocation refused for a full table writes nothing: another thread attaching the arena sees the same kernel`, () => {
    const { kernel, app, fill } = small(v, { maxFiles: 8 });
    fill();
    throwsCode(() => app.perfEventOpen({ cpu: 0, mmap: false }), 'EMFILE');
    throwsCode(() => perfArray(app, 1), 'EMFILE');
    const other = Kernel.attach(kernel.sab);
    assert.equal(other.inspect(), kernel.inspect());
    assert.is(other.inspect().files.length, 8);
  });

  test(`${v}: every file gets its own positive serial, in opening order (the ids inspect() and fileOf report)`, () => {
    const { kernel, app } = small(v, { maxFiles: 16 });
    const fds = [app.openFile('/a'), app.perfEventOpen({ cpu: 0, mmap: false }), app.epollCreate()];
    const serials = fds.map((fd) => app.fileOf(fd));
    assert.ok(serials[0]! >= 1, `first serial ${serials[0]}`);
    assert.equal(
      serials,
      [...serials].sort((a, b) => a - b),
    );
    assert.is(new Set(serials).size, 3);
    assert.equal(
      kernel
        .inspect()
        .files.filter((f) => serials.includes(f.id))
        .map((f) => f.kind),
      ['regular', 'perf_event', 'epoll'],
    );
  });

  test(`${v}: a file's release runs once, at its last reference; one put too many is a refcount-underflow violation, not a second release`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16 } });
    const k = kernel.k;
    const released: number[] = [];
    const KIND = 31; // a file kind of this test's own
    register_file_release(KIND, (_k, obj) => void released.push(obj));
    const f = alloc_file(k, KIND, 77, FMODE_READ);
    assert.ok(f >= 0 && file_live(k, f));
    get_file(k, f);
    fput(k, f);
    assert.equal([released, file_live(k, f)], [[], true]);
    fput(k, f);
    assert.equal([released, file_live(k, f)], [[77], false]);
    fput(k, f);
    assert.equal(released, [77]);
    const vs = kernel.violations();
    assert.equal(
      vs.map((x) => [x.kind, x.cpu, x.args[0], x.args[1], x.args[2]]),
      [['refcount-underflow', -1, 1, f, 0]],
    );
    assert.ok(vs[0]!.timeMs >= 0 && vs[0]!.timeMs < 60_000, 'time since the kernel was created');
    assert.is(file_live(k, -1), false);
    assert.is(file_live(k, k.a.L.maxFiles), false);
    const g = alloc_file(k, FILE_KIND_REGULAR, 0, FMODE_READ);
    assert.ok(g >= 0 && file_live(k, g), 'files of a kind without release are freed too');
    fput(k, g);
    assert.is(file_live(k, g), false);
  });
}

test.run();
