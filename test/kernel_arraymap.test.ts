/**
 * The fd-array half of kernel/bpf/arraymap.c as each kernel version builds it: what the release
 * purge tells its hooks and counts (4.8's xchg, perfemu's strict compare-exchange, the
 * no-owner-check fault), that a plain delete or replace is no purge, map_free's "must be
 * empty" check and the slots a new map starts with, entry records recycled after their grace
 * period, a second put of one entry refused, a full entry table, and the ops table's name.
 * Synchronous, per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_PRESERVE_ELEMS, Kernel, type Process } from '../src/index.js';
import { EE_STATE, S_RCU } from '../src/arena/layout.js';
import { entryWord } from '../src/arena/records.js';
import { base_ops, ops_of } from '../src/kernel/bpf/arraymap.js';
import { slot_word } from '../src/kernel/bpf/map.js';
import { BEHAVIOURS } from '../src/kernel/behaviour.js';
import { file_obj } from '../src/kernel/file.js';
import { FIXED, MODERN, VERSIONS, event, eventIdOf, mk, perfArray, throwsCode } from './fixtures/scenario.js';

/** the entry handle in slot `index` of the map behind `mapFd` (slots hold entry + 1) */
function entryIn(kernel: Kernel, p: Process, mapFd: number, index: number): number {
  return kernel.arena.load(slot_word(kernel.k, file_obj(kernel.k, p.fileIndex(mapFd)), index)) - 1;
}

/** puts a new unmapped event of `cpu` in slot `index` through `mapFd`; returns its id */
function put(kernel: Kernel, p: Process, mapFd: number, index: number, cpu = index % kernel.cpus): number {
  const fd = p.perfEventOpen({ cpu, mmap: false });
  p.bpf.mapUpdateElem(mapFd, index, fd);
  return eventIdOf(kernel, p, fd);
}

const mapOf = (kernel: Kernel, p: Process, mapFd: number) =>
  kernel.inspect().maps.find((m) => m.id === kernel.inspect().files.find((f) => f.id === p.fileOf(mapFd))!.object)!;

for (const v of FIXED) {
  for (const strict of [false, true]) {
    test(`${v}${strict ? ' strict' : ''}: closing a frontend purges only its own entries; purgeLoaded and purged name the same entry, slot, map and file; no foreign entry is counted`, () => {
      const kernel = mk(v, 4, strict);
      const app = kernel.process('app');
      const F = perfArray(app, 4);
      app.bpf.objPin(F, '/sys/fs/bpf/m');
      const other = kernel.process('other');
      const G = other.bpf.objGet('/sys/fs/bpf/m');
      const fEvents = [put(kernel, app, F, 0), put(kernel, app, F, 2)];
      const gEvent = put(kernel, other, G, 1);
      const mapId = mapOf(kernel, app, F).id;
      const loaded: { map: number; index: number; entry: number }[] = [];
      const purged: { map: number; index: number; loaded: number; removed: number; file: number }[] = [];
      kernel.hooks = { purgeLoaded: (i) => void loaded.push(i), purged: (i) => void purged.push(i) };
      const fId = app.fileOf(F);
      app.close(F);
      kernel.hooks = {};
      assert.equal(
        loaded.map((x) => [x.map, x.index]),
        [
          [mapId, 0],
          [mapId, 2],
        ],
      );
      assert.equal(
        purged.map((x) => [x.map, x.index, x.file]),
        [
          [mapId, 0, fId],
          [mapId, 2, fId],
        ],
      );
      purged.forEach((x, i) => {
        assert.is(x.loaded, loaded[i]!.entry, 'the entry it checked');
        assert.is(x.removed, loaded[i]!.entry, 'is the one it removed');
      });
      assert.is.not(loaded[0]!.entry, loaded[1]!.entry);
      const s = kernel.inspect();
      assert.equal(s.maps[0]!.slots, [null, { event: gEvent, owner: other.fileOf(G) }, null, null]);
      assert.is(s.foreignEntriesPurged, 0);
      kernel.rcuBarrier();
      assert.equal(
        fEvents.map((id) => event(kernel, id).fileRefs),
        [1, 1],
        "F's entries put (each event keeps its fd)",
      );
      assert.is(event(kernel, gEvent).fileRefs, 2, "G's entry keeps its reference");
      assert.equal(kernel.violations(), []);
    });

    test(`${v}${strict ? ' strict' : ''}: with no hooks set, the purge empties the closing frontend's slots${MODERN.includes(v) ? '; a PRESERVE_ELEMS map keeps them' : ''}`, () => {
      const kernel = mk(v, 2, strict);
      const app = kernel.process('app');
      const plain = perfArray(app, 2);
      const kept = perfArray(app, 2, MODERN.includes(v) ? BPF_F_PRESERVE_ELEMS : 0);
      const progs = [plain, kept].map((m) => app.bpf.progLoad({ maps: [m] })); // hold both maps
      for (const m of [plain, kept]) for (const i of [0, 1]) put(kernel, app, m, i);
      app.close(plain);
      app.close(kept);
      kernel.rcuBarrier();
      assert.equal(
        kernel.inspect().maps.map((m) => m.slots.filter(Boolean).length),
        [0, MODERN.includes(v) ? 2 : 0],
      );
      assert.equal(kernel.violations(), []);
      assert.is(progs.length, 2);
    });
  }

  test(`${v}: with the purge-no-owner-check fault, a release purges every entry of its map (another frontend's counted as foreign), visits only non-empty slots and never the next map's`, () => {
    const kernel = Kernel.create({ cpus: 2, version: v, inject: 'purge-no-owner-check', limits: { ringPages: 16 } });
    const app = kernel.process('app');
    const F = perfArray(app, 3);
    const next = perfArray(app, 2); // its slots follow F's
    app.bpf.objPin(F, '/sys/fs/bpf/m');
    const G = app.bpf.objGet('/sys/fs/bpf/m');
    put(kernel, app, F, 0);
    put(kernel, app, G, 1);
    const nextEvent = put(kernel, app, next, 0);
    const visited: number[] = [];
    kernel.hooks = { purgeLoaded: ({ index }) => void visited.push(index) };
    app.close(F);
    kernel.hooks = {};
    assert.equal(visited, [0, 1], 'slot 2 is empty');
    const s = kernel.inspect();
    assert.equal(s.maps[0]!.slots, [null, null, null]);
    assert.is(s.foreignEntriesPurged, 1, "G's entry");
    assert.equal(s.maps[1]!.slots, [{ event: nextEvent, owner: app.fileOf(next) }, null]);
  });

  test(`${v}: map free reports a slot a broken purge left filled (map, index, entry); the next map in those slots starts empty and its neighbours keep their entries`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const [a, b, d] = [perfArray(app, 2), perfArray(app, 2), perfArray(app, 2)];
    const aEvent = put(kernel, app, a, 1);
    const dEvent = put(kernel, app, d, 0);
    const k = kernel.k;
    const mb = file_obj(k, app.fileIndex(b));
    const stale = entryIn(kernel, app, a, 1) + 1;
    app.close(b); // nothing to purge; the last reference queues the map's free
    kernel.arena.store(slot_word(k, mb, 1), stale); // as a broken purge would leave it
    kernel.rcuBarrier();
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.cpu, ...x.args.slice(0, 3)]),
      [['map-free-not-empty', -1, mb, 1, stale - 1]],
    );
    const c = perfArray(app, 2); // takes b's slots again
    assert.equal(mapOf(kernel, app, c).slots, [null, null]);
    assert.equal(mapOf(kernel, app, a).slots, [null, { event: aEvent, owner: app.fileOf(a) }]);
    assert.equal(mapOf(kernel, app, d).slots, [{ event: dEvent, owner: app.fileOf(d) }, null]);
  });
}

for (const v of VERSIONS) {
  test(`${v}: a plain delete and a replace through another frontend are no purge: the purged hook is not called and nothing is counted as foreign`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const F = perfArray(app, 2);
    app.bpf.objPin(F, '/sys/fs/bpf/m');
    const G = app.bpf.objGet('/sys/fs/bpf/m');
    let calls = 0;
    kernel.hooks = { purged: () => void calls++ };
    put(kernel, app, F, 0);
    put(kernel, app, G, 0); // replaces F's entry
    app.bpf.mapDeleteElem(F, 0); // deletes G's
    kernel.hooks = {};
    assert.is(calls, 0);
    assert.is(kernel.inspect().foreignEntriesPurged, 0);
    kernel.rcuBarrier();
    assert.equal(kernel.violations(), []);
  });

  test(`${v}: freeing a map ${BEHAVIOURS[v].mapFreeSynchronizeRcu ? 'waits for a grace period first (synchronize_rcu)' : 'runs no grace period of its own'}`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    app.close(perfArray(app, 2));
    const before = kernel.inspect().rcu.gpSeq;
    assert.equal(
      kernel.inspect().work.map((w) => w.kind),
      ['bpf_map_free_deferred'],
    );
    kernel.rcuTick();
    assert.equal(kernel.inspect().work, []);
    assert.is(kernel.inspect().rcu.gpSeq - before, BEHAVIOURS[v].mapFreeSynchronizeRcu ? 2 : 0);
  });

  test(`${v}: maps freed in one tick ${BEHAVIOURS[v].mapFreeSynchronizeRcu ? 'share one grace period (their works sleep in synchronize_rcu together, as on separate kworkers)' : 'run no grace period'}; each is freed whole`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const ev = app.perfEventOpen({ cpu: 0, mmap: false });
    for (let i = 0; i < 3; i++) {
      const m = perfArray(app, 2);
      if (v === '4.7') app.bpf.mapUpdateElem(m, 1, ev); // 4.7's map free clears its slots before it sleeps
      app.close(m);
    }
    assert.is(kernel.inspect().work.length, 3);
    const before = kernel.inspect().rcu.gpSeq;
    kernel.rcuTick();
    const s = kernel.inspect();
    assert.equal([s.work, s.maps.filter((m) => m.alive)], [[], []]);
    assert.is(s.rcu.gpSeq - before, BEHAVIOURS[v].mapFreeSynchronizeRcu ? 2 : 0);
    app.close(ev);
    kernel.rcuBarrier();
    assert.equal(kernel.violations(), []);
    assert.equal(
      kernel.inspect().perfEvents.map((e) => [e.alive, e.fileRefs]),
      [[false, 0]],
      'the slots held the event; clearing them let it go',
    );
  });

  test(`${v}: ${v === '4.7' ? 'no purge (4.7 has none): closing both map files leaves every entry in its slot' : "a purge whose hook closes another map file runs that purge inside it; both purges' entries are put once and freed after a grace period"}`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const A = perfArray(app, 3);
    const B = perfArray(app, 2);
    app.bpf.objPin(A, '/sys/fs/bpf/a');
    app.bpf.objPin(B, '/sys/fs/bpf/b');
    const events = [put(kernel, app, A, 0), put(kernel, app, A, 2), put(kernel, app, B, 1)];
    const order: string[] = [];
    kernel.hooks = {
      purgeLoaded: ({ index }) => {
        order.push(`loaded ${index}`);
        if (order.length === 1) app.close(B); // user code in the hook: a nested release purge
      },
    };
    app.close(A);
    kernel.hooks = {};
    const purges = v === '4.7' ? [] : ['loaded 0', 'loaded 1', 'loaded 2'];
    assert.equal(order, purges, 'B purged inside A, between its slots 0 and 2');
    const s = kernel.inspect();
    assert.equal(
      s.maps.map((m) => m.slots.filter((x) => x !== null).length),
      v === '4.7' ? [2, 1] : [0, 0],
    );
    if (v !== '4.7') assert.is(s.entriesPendingFree, 3, 'every entry put once, waiting for a grace period');
    kernel.rcuBarrier();
    assert.is(kernel.inspect().entriesPendingFree, 0);
    for (const id of events) assert.is(event(kernel, id).fileRefs, v === '4.7' ? 2 : 1, `event ${id}: its fd${v === '4.7' ? ' and the slot' : ''}`);
    assert.equal(kernel.violations(), []);
  });

  test(`${v}: a second put of one entry is reported as a double put and drops nothing more`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const id = put(kernel, app, m, 0);
    const ee = entryIn(kernel, app, m, 0);
    app.bpf.mapDeleteElem(m, 0);
    const refs = event(kernel, id).fileRefs;
    const pending = kernel.inspect().rcu.pending.length;
    ops_of(kernel.k).map_fd_put_ptr(kernel.k, ee, true); // as a broken caller would
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.cpu, x.args[0], x.args[1]]),
      [['double-put', -1, ee, S_RCU]],
    );
    assert.is(event(kernel, id).fileRefs, refs, 'no second fput');
    assert.is(kernel.inspect().rcu.pending.length, pending, 'no second callback');
    kernel.rcuBarrier();
    assert.is(event(kernel, id).fileRefs, 1, 'only the fd is left');
    assert.is(kernel.violations().length, 1);
  });

  test(`${v}: with update-load-store injected, two puts of one entry racing in its state change: one passes, the other is a double put`, () => {
    // The broken update can hand one entry to two threads. Here the second thread's put runs
    // just before the first one changes the entry's state word: the put must still let only
    // one of them through (a check and a separate store would let both pass, unreported).
    const kernel = Kernel.create({ cpus: 2, version: v, inject: 'update-load-store' });
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const id = put(kernel, app, m, 0);
    const ee = entryIn(kernel, app, m, 0);
    const k = kernel.k;
    const a = kernel.arena;
    a.xchg(slot_word(k, file_obj(k, app.fileIndex(m)), 0), 0); // the entry leaves its slot, as the broken update takes it
    const refs = event(kernel, id).fileRefs;
    const pending = kernel.inspect().rcu.pending.length;
    const state = entryWord(a.L, ee, EE_STATE);
    const ops = ops_of(k);
    let raced = false;
    const other = (i: number): void => {
      if (i !== state || raced) return;
      raced = true;
      ops.map_fd_put_ptr(k, ee, true); // the other thread's put, complete before this one writes
    };
    const { storeRelease, cmpxchg } = a;
    a.storeRelease = (i, x) => {
      other(i);
      storeRelease.call(a, i, x);
    };
    a.cmpxchg = (i, e, r) => {
      other(i);
      return cmpxchg.call(a, i, e, r);
    };
    try {
      ops.map_fd_put_ptr(k, ee, true);
    } finally {
      a.storeRelease = storeRelease;
      a.cmpxchg = cmpxchg;
    }
    assert.ok(raced, 'the other put ran inside this one');
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.args[0]]),
      [['double-put', ee]],
    );
    assert.is(kernel.inspect().rcu.pending.length, pending + 1, 'one callback, not two');
    assert.is(event(kernel, id).fileRefs, v === '4.7' ? refs - 1 : refs, '4.7 drops the perf file at once, once');
    kernel.rcuBarrier();
    assert.is(event(kernel, id).fileRefs, 1, 'only the fd is left');
  });

  test(`${v}: entry records come back after their grace period: a two-record entry table takes any number of replacements`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxEntries: 2 } });
    const app = kernel.process('app');
    const m = perfArray(app, 1);
    const fd = app.perfEventOpen({ cpu: 0, mmap: false });
    for (let i = 0; i < 6; i++) {
      app.bpf.mapUpdateElem(m, 0, fd);
      kernel.rcuBarrier();
    }
    assert.is(kernel.inspect().entriesPendingFree, 0);
    assert.is(event(kernel, eventIdOf(kernel, app, fd)).fileRefs, 2, 'the fd and the one entry');
  });

  test(`${v}: a full entry table is ENOMEM, gives the perf file reference back and leaves the slot pool alone`, () => {
    const kernel = Kernel.create({ cpus: 2, version: v, limits: { ringPages: 16, maxEntries: 1, maxSlots: 8 } });
    const app = kernel.process('app');
    const a = perfArray(app, 2);
    put(kernel, app, a, 0);
    const fd = app.perfEventOpen({ cpu: 1, mmap: false });
    throwsCode(() => app.bpf.mapUpdateElem(a, 1, fd), 'ENOMEM');
    assert.is(event(kernel, eventIdOf(kernel, app, fd)).fileRefs, 1);
    const b = perfArray(app, 6); // the rest of the pool
    assert.equal(mapOf(kernel, app, b).slots, [null, null, null, null, null, null]);
  });

  for (const strict of [false, true]) {
    const b = BEHAVIOURS[v];
    const want = !b.releasePurges ? '4.7' : `${b.preserveElems ? '5.10+' : '4.8'}${strict ? ', strict purge' : ''}`;
    test(`${v}${strict ? ' strict' : ''}: the map type's ops table is perf_event_array_map_ops (${want}); an injected fault is named after it`, () => {
      assert.is(base_ops(mk(v, 1, strict).k).name, `perf_event_array_map_ops (${want})`);
      const broken = Kernel.create({ cpus: 1, version: v, strict, inject: 'double-drop', limits: { ringPages: 16 } });
      assert.is(ops_of(broken.k).name, `perf_event_array_map_ops (${want}) + fault double-drop`);
    });
  }
}

test.run();
