/**
 * Several perf event arrays and entries at once (kernel/bpf/arraymap.c, include/linux/bpf.h):
 * each map keeps its own max_entries, flags and slots, each entry its own event and owner, so
 * an output, an update or a release touches only its own map. Synchronous, per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_PRESERVE_ELEMS, Kernel } from '../src/index.js';
import { S_LIVE } from '../src/arena/layout.js';
import { entry_map_file, map_state, slot_word } from '../src/kernel/bpf/map.js';
import { file_obj } from '../src/kernel/file.js';
import { FIXED, MODERN, VERSIONS, mk, payload, perfArray } from './fixtures/scenario.js';

for (const v of VERSIONS) {
  test(`${v}: three maps of 2, 3 and 5 slots: each output is checked against its own map's size and lands in its own slot's event`, () => {
    const kernel = mk(v, 4);
    const app = kernel.process('app');
    const sizes = [2, 3, 5];
    const maps = sizes.map((n) => perfArray(app, n));
    const progs = maps.map((m) => app.bpf.progLoad({ maps: [m] }));
    const fds: number[][] = maps.map((m, i) =>
      Array.from({ length: sizes[i]! }, (_, slot) => {
        const fd = app.perfEventOpen({ cpu: slot % 4, pages: 1 });
        if (slot % 4 === slot) app.bpf.mapUpdateElem(m, slot, fd);
        return fd;
      }),
    );
    sizes.forEach((n, i) => {
      assert.is(kernel.cpu(0).perfEventOutput(progs[i]!, 0, n, payload(8)), -7, `map ${i}: index ${n} is past its end`);
      assert.is(kernel.cpu(1).perfEventOutput(progs[i]!, 0, 1, payload(8, 10 * i + 1)), 0, `map ${i}: slot 1`);
    });
    assert.is(kernel.cpu(3).perfEventOutput(progs[2]!, 0, 3, payload(8)), 0, 'slot 3 of the 5-slot map');
    assert.is(kernel.cpu(0).perfEventOutput(progs[2]!, 0, 4, payload(8)), -2, 'slot 4 is empty');
    maps.forEach((_, i) => {
      const got = app.readRing(fds[i]![1]!);
      assert.equal(
        got.map((r) => (r.type === 'sample' ? r.data[0] : -1)),
        [payload(8, 10 * i + 1)[0]],
        `map ${i} slot 1's event`,
      );
    });
    const snap = kernel.inspect().maps.filter((m) => m.alive);
    assert.equal(
      snap.map((m) => m.maxEntries),
      sizes,
    );
    assert.equal(
      snap.map((m) => m.slots.map((s) => (s ? s.owner : 0))),
      maps.map((m, i) => Array.from({ length: sizes[i]! }, (_, s) => (s < 4 ? app.fileOf(m) : 0))),
    );
  });

  test(`${v}: closing one map's file purges ${FIXED.includes(v) ? 'only its own entries' : 'nothing (4.7)'}; ${MODERN.includes(v) ? 'a PRESERVE_ELEMS map keeps its entries' : 'no PRESERVE_ELEMS before 5.10'}`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const a = perfArray(app, 2);
    const b = perfArray(app, 2, MODERN.includes(v) ? BPF_F_PRESERVE_ELEMS : 0);
    const c = perfArray(app, 2);
    const progC = app.bpf.progLoad({ maps: [c] });
    const progB = app.bpf.progLoad({ maps: [b] });
    for (const m of [a, b, c]) for (const cpu of [0, 1]) app.bpf.mapUpdateElem(m, cpu, app.perfEventOpen({ cpu, pages: 1 }));
    const held = () =>
      kernel
        .inspect()
        .maps.filter((m) => m.alive)
        .map((m) => m.slots.filter(Boolean).length);
    assert.equal(held(), [2, 2, 2]);
    assert.equal(
      kernel
        .inspect()
        .maps.filter((m) => m.alive)
        .map((m) => m.flags),
      [0, MODERN.includes(v) ? BPF_F_PRESERVE_ELEMS : 0, 0],
    );
    app.close(a);
    kernel.rcuBarrier();
    assert.equal(held(), [2, 2], 'map a (no program holds it) is freed with its entries');
    app.close(b);
    kernel.rcuBarrier();
    assert.equal(held(), v === '4.8' ? [0, 2] : [2, 2], 'map b, held by its program, is purged only by 4.8 (5.10+: PRESERVE_ELEMS)');
    assert.is(kernel.cpu(1).perfEventOutput(progC, 0, 1, payload(8)), 0, 'map c untouched');
    assert.is(kernel.cpu(1).perfEventOutput(progB, 0, 1, payload(8)), v === '4.8' ? -2 : 0);
  });
}

for (const v of FIXED) {
  test(`${v}: the map and entry accessors the release invariant reads: a map's state, an entry's map file`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const a = perfArray(app, 2);
    const b = perfArray(app, 2);
    app.bpf.mapUpdateElem(b, 1, app.perfEventOpen({ cpu: 1, mmap: false }));
    const k = kernel.k;
    const [ma, mb] = [a, b].map((fd) => file_obj(k, app.fileIndex(fd)));
    const slot = kernel.arena.load(slot_word(k, mb!, 1));
    assert.ok(slot > 0, 'slot 1 of b holds an entry');
    assert.is(entry_map_file(k, slot - 1), app.fileIndex(b));
    assert.equal([map_state(k, ma!), map_state(k, mb!)], [S_LIVE, S_LIVE]);
    app.close(a);
    kernel.rcuBarrier();
    assert.is.not(map_state(k, ma!), S_LIVE);
    assert.is(map_state(k, mb!), S_LIVE);
  });

  test(`${v}: with the free-without-gp fault, an entry freed under a CPU's read-side section is reported as a use-after-free of the entry, not of its event`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, inject: 'free-without-gp', limits: { ringPages: 16 } });
    const app = kernel.process('app');
    const m = perfArray(app, 1);
    const prog = app.bpf.progLoad({ maps: [m] });
    app.bpf.mapUpdateElem(m, 0, app.perfEventOpen({ cpu: 0, pages: 1 }));
    kernel.hooks = { outputLoaded: () => app.bpf.mapDeleteElem(m, 0) };
    kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8));
    kernel.hooks = {};
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.cpu]),
      [['use-after-free-entry', 0]],
      'the entry only: the event it pointed to is still held by its fd and mapping',
    );
  });
}

test.run();
