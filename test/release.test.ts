/**
 * Lifetimes: the release purge of commit 3b1efb196eee and everything around it
 * (docs/semantics.md, "Lifetimes" and "The release purge"). Each test asserts slots, owners,
 * reference counts and what was freed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY, type Kernel, type Process } from '../src/index.js';
import { FIXED, MODERN, VERSIONS, event, eventIdOf, mk, payload, perfArray, slots, throwsCode } from './fixtures/scenario.js';

/** an app that fills slots 0..n-1 of a new map with events of CPUs 0..n-1 */
function fill(kernel: Kernel, p: Process, mapFd: number, n: number, from = 0): number[] {
  const ids: number[] = [];
  for (let i = from; i < from + n; i++) {
    const fd = p.perfEventOpen({ cpu: i % kernel.cpus });
    p.bpf.mapUpdateElem(mapFd, i, fd);
    ids.push(eventIdOf(kernel, p, fd));
  }
  return ids;
}

// the commit message's story -----------------------------------------------------

for (const v of FIXED) {
  test(`${v}: an app fills slots through its own fd, pins the map, exits: its entries are purged, its events freed after a grace period, the map persists`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const m = perfArray(app);
    app.bpf.objPin(m, '/sys/fs/bpf/events');
    const ids = fill(kernel, app, m, 4);
    app.exit();
    const s = kernel.inspect();
    assert.equal(s.maps[0]!.slots, [null, null, null, null], 'purged at exit');
    assert.equal([s.maps[0]!.alive, s.maps[0]!.refcnt, s.maps[0]!.usercnt], [true, 1, 1], 'the pin keeps the map');
    for (const id of ids) assert.is(event(kernel, id).alive, true, 'the entry put waits for a grace period');
    assert.is(s.entriesPendingFree, 4);
    kernel.rcuBarrier();
    for (const id of ids) assert.equal([event(kernel, id).alive, event(kernel, id).fileRefs], [false, 0]);
    assert.is(kernel.inspect().entriesPendingFree, 0);
  });
}
test('4.7: the same story leaks: after the app exits, the pinned map still holds its entries and perf events', () => {
  const kernel = mk('4.7');
  const app = kernel.process('app');
  const m = perfArray(app);
  app.bpf.objPin(m, '/sys/fs/bpf/events');
  const ids = fill(kernel, app, m, 4);
  const owner = app.fileOf(m);
  app.exit();
  kernel.rcuBarrier();
  assert.equal(
    slots(kernel),
    ids.map((event) => ({ event, owner })),
  );
  for (const id of ids) assert.equal([event(kernel, id).alive, event(kernel, id).fileRefs], [true, 1], 'the map holds the only reference');
  // ...until someone removes the pin. The last bpf_map_put schedules bpf_map_free_deferred as
  // work (kernel/bpf/syscall.c): the map and its entries are still there until it runs...
  kernel.process('admin').unlink('/sys/fs/bpf/events');
  const s = kernel.inspect();
  assert.equal(s.work, [{ kind: 'bpf_map_free_deferred', object: s.maps[0]!.id }]);
  assert.is(s.maps[0]!.refcnt, 0);
  for (const id of ids) assert.is(event(kernel, id).alive, true);
  // ...then perf_event_array_map_free clears every slot, each file fput at once
  kernel.rcuTick();
  for (const id of ids) assert.is(event(kernel, id).alive, false);
  assert.is(kernel.inspect().maps[0]!.alive, false);
  assert.equal(kernel.inspect().work, []);
});
for (const v of MODERN) {
  test(`${v}: with BPF_F_PRESERVE_ELEMS the entries outlive the app until the map is freed`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const m = perfArray(app, 4, BPF_F_PRESERVE_ELEMS);
    app.bpf.objPin(m, '/sys/fs/bpf/events');
    const ids = fill(kernel, app, m, 4);
    app.exit();
    kernel.rcuBarrier();
    assert.equal(
      slots(kernel).map((x) => x?.event),
      ids,
    );
    const admin = kernel.process('admin');
    const g = admin.bpf.objGet('/sys/fs/bpf/events');
    admin.bpf.mapDeleteElem(g, 0);
    admin.unlink('/sys/fs/bpf/events');
    kernel.rcuBarrier(); // 5.10 drops the pin's reference from an RCU callback
    assert.is(kernel.inspect().maps[0]!.alive, true, 'g still holds it');
    admin.close(g); // last reference: bpf_map_free_deferred is queued as work
    assert.equal(
      kernel.inspect().work.map((w) => w.kind),
      ['bpf_map_free_deferred'],
    );
    assert.is(event(kernel, ids[1]!).alive, true);
    kernel.rcuBarrier(); // the work runs: map free clears the rest, whose puts wait a grace period
    assert.is(kernel.inspect().maps[0]!.alive, false);
    for (const id of ids) assert.is(event(kernel, id).alive, false);
    assert.equal(kernel.violations(), []);
  });
}

// own-entry purge ----------------------------------------------------------------------

for (const v of VERSIONS) {
  test(`${v}: creator and an OBJ_GET frontend fill different slots; closing one ${v === '4.7' ? 'purges nothing' : 'purges only its own entries'}`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    app.bpf.objPin(F, '/sys/fs/bpf/m');
    const G = app.bpf.objGet('/sys/fs/bpf/m');
    const [p0] = fill(kernel, app, F, 1, 0);
    const p1fd = app.perfEventOpen({ cpu: 1 });
    const p1 = eventIdOf(kernel, app, p1fd);
    app.bpf.mapUpdateElem(G, 1, p1fd);
    const fId = app.fileOf(F);
    const gId = app.fileOf(G);
    assert.equal(slots(kernel).slice(0, 2), [
      { event: p0, owner: fId },
      { event: p1, owner: gId },
    ]);
    app.close(G);
    assert.equal(
      slots(kernel).slice(0, 2),
      v === '4.7'
        ? [
            { event: p0, owner: fId },
            { event: p1, owner: gId },
          ]
        : [{ event: p0, owner: fId }, null],
    );
    app.close(F);
    assert.equal(
      slots(kernel).slice(0, 2),
      v === '4.7'
        ? [
            { event: p0, owner: fId },
            { event: p1, owner: gId },
          ]
        : [null, null],
    );
    assert.is(kernel.inspect().maps[0]!.alive, true, 'the pin keeps the map');
  });
}

// dup / fork share ownership ----------------------------------------------------------

for (const v of FIXED) {
  test(`${v}: a dup'ed map fd purges only at the last close`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    app.bpf.objPin(F, '/sys/fs/bpf/m');
    fill(kernel, app, F, 1);
    const F2 = app.dup(F);
    assert.is(app.fileOf(F2), app.fileOf(F), 'one file, one owner');
    app.close(F);
    assert.ok(slots(kernel)[0], 'still occupied');
    app.close(F2);
    assert.is(slots(kernel)[0], null);
  });
  test(`${v}: a forked map fd purges only after parent and child have both exited`, () => {
    const kernel = mk(v);
    const parent = kernel.process('parent');
    const F = perfArray(parent);
    parent.bpf.objPin(F, '/sys/fs/bpf/m');
    fill(kernel, parent, F, 2);
    const child = parent.fork('child');
    assert.is(child.fileOf(F), parent.fileOf(F));
    parent.exit();
    assert.ok(slots(kernel)[0] && slots(kernel)[1], 'the child still holds the file');
    child.exit();
    assert.equal(slots(kernel).slice(0, 2), [null, null]);
  });
}

// replace transfers ownership; replace drops the old reference exactly once ----------

for (const v of FIXED) {
  test(`${v}: replacing a slot through another frontend transfers ownership; the old entry is put once, after a grace period`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    app.bpf.objPin(F, '/sys/fs/bpf/m');
    const other = kernel.process('other');
    const G = other.bpf.objGet('/sys/fs/bpf/m');
    const p0fd = app.perfEventOpen({ cpu: 0, mmap: false });
    const p0 = eventIdOf(kernel, app, p0fd);
    app.bpf.mapUpdateElem(F, 0, p0fd);
    const p1fd = other.perfEventOpen({ cpu: 0, mmap: false });
    const p1 = eventIdOf(kernel, other, p1fd);
    other.bpf.mapUpdateElem(G, 0, p1fd);
    assert.equal(slots(kernel)[0], { event: p1, owner: other.fileOf(G) });
    assert.is(event(kernel, p0).fileRefs, 2, 'fd + the old entry until its grace period');
    kernel.rcuBarrier();
    assert.is(event(kernel, p0).fileRefs, 1, 'dropped exactly once');
    app.close(F);
    assert.equal(slots(kernel)[0], { event: p1, owner: other.fileOf(G) }, 'F owns nothing any more');
    other.close(G);
    assert.is(slots(kernel)[0], null);
    kernel.rcuBarrier();
    assert.is(event(kernel, p1).fileRefs, 1);
    assert.equal(kernel.violations(), []);
  });
  test(`${v}: re-inserting the same event creates a new entry: two references until the old one's grace period`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    const fd = app.perfEventOpen({ cpu: 0, mmap: false });
    const id = eventIdOf(kernel, app, fd);
    app.bpf.mapUpdateElem(F, 0, fd);
    app.bpf.mapUpdateElem(F, 0, fd);
    assert.is(event(kernel, id).fileRefs, 3);
    kernel.rcuBarrier();
    assert.is(event(kernel, id).fileRefs, 2);
  });
}
test('4.7: replacing a slot fputs the old perf file at once (no grace period)', () => {
  const kernel = mk('4.7');
  const app = kernel.process('app');
  const F = perfArray(app);
  const fd = app.perfEventOpen({ cpu: 0, mmap: false });
  const id = eventIdOf(kernel, app, fd);
  app.bpf.mapUpdateElem(F, 0, fd);
  app.close(fd);
  app.bpf.mapUpdateElem(F, 0, app.perfEventOpen({ cpu: 0, mmap: false }));
  assert.is(event(kernel, id).alive, false, 'freed inside the update');
});

// perf fd closed after insert -------------------------------------------------------

for (const v of VERSIONS) {
  test(`${v}: a perf fd closed after the update stays alive (mapping + slot); after munmap outputs ${v === '4.7' || v === '4.8' ? 'return 0' : 'fail with ENOSPC'}, no loss counted; the event dies when its slot is cleared`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    const prog = app.bpf.progLoad({ maps: [F] });
    const fd = app.perfEventOpen({ cpu: 0 });
    const id = eventIdOf(kernel, app, fd);
    const file = app.fileOf(fd);
    app.bpf.mapUpdateElem(F, 0, fd);
    app.close(fd);
    assert.is(event(kernel, id).fileRefs, 2, 'the mapping and the entry');
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(16)), 0);
    const recs = app.readRing({ file });
    assert.equal(
      recs.map((r) => r.type),
      ['sample'],
    );
    app.munmap({ file });
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(16)), v === '4.7' || v === '4.8' ? 0 : -28);
    assert.equal([event(kernel, id).lostSamples, kernel.inspect().cpuCounters[0]!.lost], [0, 0]);
    assert.is(event(kernel, id).alive, true, 'the slot still holds it');
    app.bpf.mapDeleteElem(F, 0);
    if (v !== '4.7') {
      assert.is(event(kernel, id).alive, true, 'until the grace period');
      kernel.rcuBarrier();
    }
    assert.is(event(kernel, id).alive, false);
  });
}

// one event in several maps and slots -----------------------------------------------

for (const v of VERSIONS) {
  test(`${v}: one event in map A slots 0 and 1 and map B slot 3: three references; closing A's owner ${v === '4.7' ? 'changes nothing' : "purges A's two only"}`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const A = perfArray(app);
    const B = perfArray(app);
    app.bpf.objPin(B, '/sys/fs/bpf/b');
    const fd = app.perfEventOpen({ cpu: 0, mmap: false });
    const id = eventIdOf(kernel, app, fd);
    app.bpf.mapUpdateElem(A, 0, fd);
    app.bpf.mapUpdateElem(B, 3, fd);
    app.bpf.mapUpdateElem(A, 1, fd);
    app.close(fd);
    assert.is(event(kernel, id).fileRefs, 3);
    app.bpf.objPin(A, '/sys/fs/bpf/a');
    app.close(A);
    kernel.rcuBarrier();
    const maps = kernel.inspect().maps;
    if (v === '4.7') {
      assert.equal(maps[0]!.slots.filter(Boolean).length, 2);
      assert.is(event(kernel, id).fileRefs, 3);
      app.unlink('/sys/fs/bpf/a'); // map A's last reference: its free is queued as work
      assert.is(event(kernel, id).fileRefs, 3);
      kernel.rcuTick(); // bpf_map_free_deferred: every slot cleared, each file fput at once
      assert.is(event(kernel, id).fileRefs, 1);
    } else {
      assert.equal(maps[0]!.slots, [null, null, null, null]);
      assert.is(event(kernel, id).fileRefs, 1);
    }
    assert.equal(maps[1]!.slots[3]?.event, id);
    app.exit(); // B's creator file: B's entry goes too (4.8+); 4.7: the pin keeps it
    kernel.rcuBarrier();
    assert.is(event(kernel, id).alive, v === '4.7');
  });
}

// a map kept alive only by a program ------------------------------------------

for (const v of FIXED) {
  test(`${v}: a map held only by a program: its outputs see ENOENT after the map file's release; unloading it frees the map (all slots already empty)`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    const prog = app.bpf.progLoad({ maps: [F] });
    const ev = app.perfEventOpen({ cpu: 0 });
    app.bpf.mapUpdateElem(F, 0, ev);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(4)), 0);
    app.close(F);
    assert.equal(kernel.inspect().maps[0]!.refcnt, 1, 'the program');
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(4)), -2);
    app.close(prog);
    assert.is(kernel.inspect().maps[0]!.alive, true, 'the program lets go only after a grace period');
    kernel.rcuBarrier();
    assert.is(kernel.inspect().maps[0]!.alive, false);
    assert.equal(kernel.violations(), [], 'map free found every slot empty');
  });
}
for (const v of MODERN) {
  test(`${v}: with BPF_F_PRESERVE_ELEMS the program's output still lands; unloading it clears the slot and releases the event after a grace period`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app, 4, BPF_F_PRESERVE_ELEMS);
    const prog = app.bpf.progLoad({ maps: [F] });
    const ev = app.perfEventOpen({ cpu: 0, mmap: false });
    const id = eventIdOf(kernel, app, ev);
    app.bpf.mapUpdateElem(F, 0, ev);
    app.close(ev);
    app.close(F);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(4)), -28, 'the entry is there (no ring: ENOSPC, not ENOENT)');
    app.close(prog);
    kernel.rcuBarrier();
    assert.is(kernel.inspect().maps[0]!.alive, false);
    assert.is(event(kernel, id).alive, false);
  });
}
test('4.8: map free finds every slot empty, even when another frontend updated a later slot during a purge', () => {
  const kernel = mk('4.8');
  const app = kernel.process('app');
  const F = perfArray(app);
  const ev = app.perfEventOpen({ cpu: 0, mmap: false });
  app.bpf.mapUpdateElem(F, 0, ev);
  const other = kernel.process('other');
  app.bpf.objPin(F, '/sys/fs/bpf/m');
  const G = other.bpf.objGet('/sys/fs/bpf/m');
  other.unlink('/sys/fs/bpf/m');
  // G's update lands after the purge of F passed slot 1, so F's release leaves it; then G's
  // own release purges it: nothing is left, no violation.
  kernel.hooks = { purgeLoaded: () => other.bpf.mapUpdateElem(G, 1, other.perfEventOpen({ cpu: 1, mmap: false })) };
  app.close(F);
  kernel.hooks = {};
  other.exit();
  app.exit();
  kernel.rcuBarrier();
  assert.equal(kernel.violations(), []);
  assert.is(kernel.inspect().maps[0]!.alive, false);
});

// the purge / update race -----------------------------------------------------------

for (const v of FIXED) {
  for (const strict of [false, true]) {
    test(`${v}${strict ? ' strict' : ''}: purge(F) loaded slot 0, then G updates slot 0: ${strict ? "G's entry stays" : "G's entry is removed too (counted as a foreign entry purged)"}; each entry put exactly once`, () => {
      const kernel = mk(v, 4, strict);
      const app = kernel.process('app');
      const F = perfArray(app);
      app.bpf.objPin(F, '/sys/fs/bpf/m');
      const other = kernel.process('other');
      const G = other.bpf.objGet('/sys/fs/bpf/m');
      const fFd = app.perfEventOpen({ cpu: 0, mmap: false });
      const pF = eventIdOf(kernel, app, fFd);
      app.bpf.mapUpdateElem(F, 0, fFd);
      const gFd = other.perfEventOpen({ cpu: 0, mmap: false });
      const pG = eventIdOf(kernel, other, gFd);
      let raced = 0;
      kernel.hooks = {
        purgeLoaded: ({ index }) => {
          if (index === 0 && raced++ === 0) other.bpf.mapUpdateElem(G, 0, gFd); // returns 0
        },
      };
      app.close(F);
      kernel.hooks = {};
      assert.is(raced, 1);
      const s = kernel.inspect();
      if (strict) {
        assert.equal(s.maps[0]!.slots[0], { event: pG, owner: other.fileOf(G) });
        assert.is(s.foreignEntriesPurged, 0);
      } else {
        assert.is(s.maps[0]!.slots[0], null, "the kernel's xchg took G's fresh entry");
        assert.is(s.foreignEntriesPurged, 1);
      }
      kernel.rcuBarrier();
      assert.is(event(kernel, pF).fileRefs, 1, "F's entry put once (by G's replace)");
      assert.is(event(kernel, pG).fileRefs, strict ? 2 : 1, "G's entry put at most once");
      assert.equal(kernel.violations(), [], 'no double put, no leak');
    });
  }
}

// RCU deferral -----------------------------------------------------------------------

for (const v of FIXED) {
  test(`${v}: a CPU inside its read-side section keeps writing into the event it loaded after the slot is deleted; the reference goes only after it leaves`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    const prog = app.bpf.progLoad({ maps: [F] });
    const fd = app.perfEventOpen({ cpu: 0 });
    const id = eventIdOf(kernel, app, fd);
    const file = app.fileOf(fd);
    app.bpf.mapUpdateElem(F, 0, fd);
    app.close(fd);
    app.munmap({ file }); // only the entry holds the event now
    let seenInside = -1;
    kernel.hooks = {
      outputLoaded: () => {
        app.bpf.mapDeleteElem(F, 0);
        assert.is(kernel.rcuTick(), 0, 'no callback can run while CPU 0 is in its section');
        seenInside = event(kernel, id).fileRefs;
      },
    };
    const ret = kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8));
    kernel.hooks = {};
    assert.is(ret, v === '4.8' ? 0 : -28, 'it used the event it loaded (which has no ring any more)');
    assert.is(seenInside, 1, 'the event was alive throughout the section');
    kernel.rcuBarrier();
    assert.is(event(kernel, id).alive, false);
    assert.equal(kernel.violations(), []);
  });
}
test("4.7: the put is an immediate fput: the perf file is released while a CPU still uses the event (reported as the old kernel's use-after-free)", () => {
  const kernel = mk('4.7');
  const app = kernel.process('app');
  const F = perfArray(app);
  const prog = app.bpf.progLoad({ maps: [F] });
  const fd = app.perfEventOpen({ cpu: 0, mmap: false });
  const id = eventIdOf(kernel, app, fd);
  app.bpf.mapUpdateElem(F, 0, fd);
  app.close(fd);
  kernel.hooks = { outputLoaded: () => app.bpf.mapDeleteElem(F, 0) };
  kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8));
  kernel.hooks = {};
  assert.is(event(kernel, id).alive, false);
  assert.equal(
    kernel.violations().map((x) => x.kind),
    ['use-after-free-event'],
  );
});

// permissions --------------------------------------------------------------------------

for (const v of MODERN) {
  test(`${v}: RDONLY at create belongs to that fd: a later OBJ_GET without flags is writable; a read-only frontend's close purges nothing`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const ro = perfArray(app, 4, BPF_F_RDONLY);
    app.bpf.objPin(ro, '/sys/fs/bpf/m');
    const rw = app.bpf.objGet('/sys/fs/bpf/m');
    const ev = app.perfEventOpen({ cpu: 0, mmap: false });
    app.bpf.mapUpdateElem(rw, 0, ev);
    assert.equal(kernel.inspect().maps[0]!.flags, 0, 'the access bit is not kept in the map');
    const ro2 = app.bpf.objGet('/sys/fs/bpf/m', BPF_F_RDONLY);
    app.close(ro2);
    app.close(ro);
    assert.equal(slots(kernel)[0], { event: eventIdOf(kernel, app, ev), owner: app.fileOf(rw) }, 'read-only frontends own nothing, purge nothing');
    app.close(rw);
    assert.is(slots(kernel)[0], null);
  });
}

// The map's last reference ---------------------------------------------------------------

for (const v of VERSIONS) {
  test(`${v}: the map's last reference (fd, pin and program gone) frees the map and, after grace periods, every event`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const F = perfArray(app);
    app.bpf.objPin(F, '/sys/fs/bpf/m');
    const prog = app.bpf.progLoad({ maps: [F, F] });
    const ids = fill(kernel, app, F, 4);
    const loader = app.fork('loader');
    app.exit();
    loader.unlink('/sys/fs/bpf/m');
    loader.exit(); // closes the inherited map fd and the program fd
    void prog;
    kernel.rcuBarrier();
    const s = kernel.inspect();
    assert.equal([s.maps[0]!.alive, s.progs[0]!.alive], [false, false]);
    for (const id of ids) assert.is(event(kernel, id).alive, false);
    assert.equal(
      s.files.filter((f) => f.kind !== 'regular'),
      [],
    );
    assert.equal(kernel.violations(), []);
  });
}

test.run();

// The map free is work (bpf_map_put -> schedule_work -> bpf_map_free_deferred) -------------

for (const v of VERSIONS) {
  test(`${v}: the last map reference queues bpf_map_free_deferred; inspect() shows it; the map is freed when the work runs`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const m = perfArray(app);
    const fd = app.perfEventOpen({ cpu: 0, mmap: false });
    const id = eventIdOf(kernel, app, fd);
    app.bpf.mapUpdateElem(m, 0, fd);
    app.close(fd);
    const mapId = kernel.inspect().maps[0]!.id;
    if (MODERN.includes(v)) assert.is(app.bpf.mapGetNextId(0), mapId);
    else throwsCode(() => app.bpf.mapGetNextId(0), 'EINVAL', 'no BPF_MAP_GET_NEXT_ID before 4.13');
    app.close(m);
    const s = kernel.inspect();
    assert.equal(s.work, [{ kind: 'bpf_map_free_deferred', object: mapId }]);
    assert.equal([s.maps[0]!.alive, s.maps[0]!.refcnt, s.maps[0]!.usercnt], [true, 0, 0]);
    if (v === '4.7') assert.is(event(kernel, id).alive, true, 'no map_release on 4.7: the entry lives until map free runs');
    else assert.is(s.maps[0]!.slots[0], null, 'map_release purged the entry at close');
    if (MODERN.includes(v)) {
      throwsCode(() => app.bpf.mapGetFdById(mapId), 'ENOENT', 'bpf_map_inc_not_zero');
      throwsCode(() => app.bpf.mapGetNextId(0), 'ENOENT', 'bpf_map_free_id ran in bpf_map_put, before the work');
    }
    kernel.rcuBarrier();
    assert.equal(kernel.inspect().work, []);
    assert.is(kernel.inspect().maps[0]!.alive, false);
    assert.is(event(kernel, id).alive, false);
    assert.equal(kernel.violations(), []);
  });
}
