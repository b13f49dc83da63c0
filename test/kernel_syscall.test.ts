/**
 * The bpf(2) commands' own checks (kernel/bpf/syscall.c), beyond the errno suite: which
 * commands the unprivileged_bpf_disabled sysctl refuses on each version, BPF_MAP_GET_NEXT_ID's
 * order over the map idr, BPF_MAP_GET_FD_BY_ID's choice of map and its EMFILE path, the
 * program's map list checks (the verifier's distinct-map limit, perfemu's reference cap), and the map's deferred free giving its slots back. Synchronous, per
 * kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, BPF_F_LOCK, BPF_F_RDONLY, BPF_F_WRONLY, Kernel, type KernelVersion, PerfemuError } from '../src/index.js';
import { MAX_USED_MAPS, PROG_MAX_REFS } from '../src/arena/layout.js';
import { BEHAVIOURS } from '../src/kernel/behaviour.js';
import { bpf_map_put } from '../src/kernel/bpf/syscall.js';
import { ENOENT } from '../src/kernel/errno.js';
import { file_obj } from '../src/kernel/file.js';
import { VERSIONS, fillFileTable, mk, perfArray, throwsCode } from './fixtures/scenario.js';

/** versions where the sysctl refuses every command of an unprivileged caller (up to 5.10) */
const CHECK_ALL = VERSIONS.filter((v) => BEHAVIOURS[v].unprivCheckAllCommands);
/** versions with BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID and BPF_MAP_FREEZE */
const BY_ID = VERSIONS.filter((v) => BEHAVIOURS[v].mapGetFdById);

/** what BPF_MAP_LOOKUP_ELEM of a perf event array fails with on this version */
const lookupCode = (v: KernelVersion): string => (BEHAVIOURS[v].lookupErrno === ENOENT ? 'ENOENT' : 'ENOTSUPP');
const liveMaps = (kernel: Kernel) => kernel.inspect().maps.filter((m) => m.alive);
const refcnts = (kernel: Kernel) => liveMaps(kernel).map((m) => m.refcnt);
const liveProgs = (kernel: Kernel) => kernel.inspect().progs.filter((p) => p.alive);
const mapIdOfFd = (kernel: Kernel, file: number) => kernel.inspect().files.find((f) => f.id === file)!.object;

for (const v of VERSIONS) {
  const all = CHECK_ALL.includes(v);
  test(`${v}: with unprivileged bpf disabled, an unprivileged caller's ${all ? 'every command is EPERM' : 'map and program creation are EPERM, the other commands run'}`, () => {
    const kernel = mk(v);
    const user = kernel.process('user', { privileged: false });
    const m = perfArray(user, 2);
    const ev = user.perfEventOpen({ cpu: 0 });
    user.bpf.mapUpdateElem(m, 0, ev);
    kernel.sysctl({ unprivilegedBpfDisabled: 1 });
    const lookup = lookupCode(v);
    throwsCode(() => user.bpf.mapLookupElem(m, 0), all ? 'EPERM' : lookup, 'lookup');
    throwsCode(() => user.bpf.progLoad({ maps: [m] }), 'EPERM', 'prog load');
    throwsCode(() => perfArray(user), 'EPERM', 'map create');
    if (BY_ID.includes(v)) {
      // the entry check comes before the open flags are looked at
      throwsCode(() => user.bpf.mapGetFdById(1, 0x80), all ? 'EPERM' : 'EINVAL', 'get fd by id, bad flags');
      if (all) throwsCode(() => user.bpf.mapFreeze(m), 'EPERM', 'freeze');
      else user.bpf.mapFreeze(m);
    }
    assert.equal(
      liveMaps(kernel).map((x) => [x.refcnt, x.usercnt, x.frozen]),
      [[1, 1, BY_ID.includes(v) && !all]],
      'nothing refused took a reference',
    );
    kernel.sysctl({ unprivilegedBpfDisabled: 0 });
    assert.ok(user.bpf.progLoad({ maps: [m] }) >= 3, 'with the sysctl at 0 an unprivileged caller loads programs');
    assert.ok(perfArray(user) >= 3, 'and creates maps');
  });

  test(`${v}: BPF_MAP_LOOKUP_ELEM with BPF_F_LOCK is ${BEHAVIOURS[v].fileModes ? 'EINVAL' : 'the same errno as without it (4.x ignores the flags)'}`, () => {
    const app = mk(v).process('app');
    const m = perfArray(app, 2);
    const plain = lookupCode(v);
    throwsCode(() => app.bpf.mapLookupElem(m, 0), plain);
    throwsCode(() => app.bpf.mapLookupElem(m, 0, BPF_F_LOCK), BEHAVIOURS[v].fileModes ? 'EINVAL' : plain);
  });

  test(`${v}: BPF_PROG_LOAD takes ${MAX_USED_MAPS} distinct maps and E2BIG at the next one, found in the verifier's order among bad fds; no reference is left behind`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxMaps: MAX_USED_MAPS + 2 } });
    const app = kernel.process('app');
    const maps = Array.from({ length: MAX_USED_MAPS + 1 }, () => perfArray(app, 1));
    const ev = app.perfEventOpen({ cpu: 0, mmap: false });
    const unreferenced = () => assert.equal(refcnts(kernel), Array(MAX_USED_MAPS + 1).fill(1), 'refused loads took no map reference');
    throwsCode(() => app.bpf.progLoad({ maps }), 'E2BIG', `${MAX_USED_MAPS + 1} distinct maps`);
    unreferenced();
    throwsCode(() => app.bpf.progLoad({ maps: [...maps, 99] }), 'E2BIG', 'the extra map comes before the closed fd');
    throwsCode(() => app.bpf.progLoad({ maps: [...maps.slice(0, MAX_USED_MAPS), 99, maps[MAX_USED_MAPS]!] }), 'EBADF', 'the closed fd comes first');
    throwsCode(() => app.bpf.progLoad({ maps: [...maps.slice(0, MAX_USED_MAPS), ev, maps[MAX_USED_MAPS]!] }), 'EINVAL', 'a perf event fd comes first');
    throwsCode(() => app.bpf.progLoad({ maps: [maps[0]!, ev] }), 'EINVAL', 'a perf event fd');
    throwsCode(() => app.bpf.progLoad({ maps: [maps[0]!, 99] }), 'EBADF', 'a closed fd');
    unreferenced();
    const fd = app.bpf.progLoad({ maps: maps.slice(0, MAX_USED_MAPS) });
    assert.ok(fd >= 3);
    assert.equal(refcnts(kernel), [...Array(MAX_USED_MAPS).fill(2), 1], 'one reference per map');
    app.close(fd);
    kernel.rcuBarrier();
    assert.equal(refcnts(kernel), Array(MAX_USED_MAPS + 1).fill(1), 'the program put each map once');
    assert.equal(kernel.violations(), []);
  });

  test(`${v}: BPF_PROG_LOAD counts distinct maps, not references: 100 references to one map load, take one map reference, and each outputs into that map`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16 } });
    const app = kernel.process('app');
    const m = perfArray(app, 1);
    const ev = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.bpf.mapUpdateElem(m, 0, ev);
    const prog = app.bpf.progLoad({ maps: Array(100).fill(m) });
    assert.equal(refcnts(kernel), [2], 'one reference for the one distinct map');
    assert.equal(
      liveProgs(kernel).map((p) => p.maps.length),
      [100],
      'a hundred references',
    );
    for (const ref of [0, 1, 57, 99]) assert.is(kernel.cpu(0).perfEventOutput(prog, ref, BPF_F_CURRENT_CPU, Uint8Array.of(ref, 0, 0, 0)), 0, `ref ${ref}`);
    assert.equal(
      app.readRing(ev).map((r) => (r.type === 'sample' ? r.data[0] : -1)),
      [0, 1, 57, 99],
    );
    throwsCode(() => kernel.cpu(0).perfEventOutput(prog, 100, BPF_F_CURRENT_CPU, Uint8Array.of(0, 0, 0, 0)), 'ERR_OUT_OF_RANGE', 'no 101st reference');
    app.close(prog);
    kernel.rcuBarrier();
    assert.equal(refcnts(kernel), [1], 'freed with one put');
    assert.equal(kernel.violations(), []);
  });

  test(`${v}: BPF_PROG_LOAD with duplicates among distinct maps: each reference keeps its own map, repeats do not count toward ${MAX_USED_MAPS}`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxMaps: MAX_USED_MAPS + 2 } });
    const app = kernel.process('app');
    const [a, b, c] = [perfArray(app, 1), perfArray(app, 1), perfArray(app, 1)];
    const evs = [a, b, c].map((m) => {
      const ev = app.perfEventOpen({ cpu: 0, pages: 1 });
      app.bpf.mapUpdateElem(m, 0, ev);
      return ev;
    });
    const refs = [a, b, a, c, b, a, a];
    const prog = app.bpf.progLoad({ maps: refs });
    refs.forEach((_, ref) => assert.is(kernel.cpu(0).perfEventOutput(prog, ref, BPF_F_CURRENT_CPU, Uint8Array.of(ref, 0, 0, 0)), 0, `ref ${ref}`));
    assert.equal(
      evs.map((ev) => app.readRing(ev).map((r) => (r.type === 'sample' ? r.data[0] : -1))),
      [[0, 2, 5, 6], [1, 4], [3]],
      'each output went to the map of its reference',
    );
    assert.equal(refcnts(kernel), [2, 2, 2], 'one reference per distinct map');

    const more = Array.from({ length: MAX_USED_MAPS - 3 + 1 }, () => perfArray(app, 1));
    const sixtyFour = [a, b, c, ...more.slice(0, -1)];
    const interleaved = sixtyFour.flatMap((m, i) => [m, a, sixtyFour[(i * 7) % sixtyFour.length]!]);
    assert.equal(new Set(interleaved).size, MAX_USED_MAPS);
    const fd = app.bpf.progLoad({ maps: interleaved });
    assert.equal(liveProgs(kernel).at(-1)!.maps.length, 3 * MAX_USED_MAPS, `${3 * MAX_USED_MAPS} references to ${MAX_USED_MAPS} maps load`);
    assert.equal(refcnts(kernel), [3, 3, 3, ...Array(MAX_USED_MAPS - 3).fill(2), 1]);
    throwsCode(() => app.bpf.progLoad({ maps: [...interleaved, a, more.at(-1)!, b] }), 'E2BIG', 'a 65th distinct map after the repeats');
    assert.equal(refcnts(kernel), [3, 3, 3, ...Array(MAX_USED_MAPS - 3).fill(2), 1], 'the refused load took no reference');
    app.close(fd);
    app.close(prog);
    kernel.rcuBarrier();
    assert.equal(refcnts(kernel), Array(MAX_USED_MAPS + 1).fill(1));
    assert.equal(kernel.violations(), []);
  });

  test(`${v}: BPF_PROG_LOAD past perfemu's ${PROG_MAX_REFS} references per program is ERR_PERFEMU_UNSUPPORTED (the kernel would load it), unless the kernel refuses it first`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxMaps: MAX_USED_MAPS + 2 } });
    const app = kernel.process('app');
    const [a, b] = [perfArray(app, 1), perfArray(app, 1)];
    const refs = Array.from({ length: PROG_MAX_REFS + 1 }, (_, i) => (i % 3 ? a : b));
    let err: unknown;
    try {
      app.bpf.progLoad({ maps: refs });
    } catch (e) {
      err = e;
    }
    assert.instance(err, PerfemuError);
    const e = err as PerfemuError;
    assert.is(e.code, 'ERR_PERFEMU_UNSUPPORTED');
    assert.match(e.message, `"maps" option holds ${PROG_MAX_REFS + 1} map references`);
    assert.match(e.message, `at most ${PROG_MAX_REFS} per program`);
    assert.equal(refcnts(kernel), [1, 1], 'no reference left behind');
    throwsCode(() => app.bpf.progLoad({ maps: [...refs.slice(0, PROG_MAX_REFS), 99] }), 'EBADF', 'the kernel fails first: its answer wins');
    const more = Array.from({ length: MAX_USED_MAPS - 1 }, () => perfArray(app, 1));
    throwsCode(() => app.bpf.progLoad({ maps: [...refs, ...more] }), 'E2BIG', 'a 65th distinct map: the kernel refuses it too');
    assert.equal(refcnts(kernel), Array(MAX_USED_MAPS + 1).fill(1), 'no reference left behind');
    const fd = app.bpf.progLoad({ maps: refs.slice(0, PROG_MAX_REFS) });
    assert.equal(
      liveProgs(kernel).map((p) => p.maps.length),
      [PROG_MAX_REFS],
      `${PROG_MAX_REFS} references load`,
    );
    assert.equal(refcnts(kernel).slice(0, 2), [2, 2]);
    assert.is(
      kernel.cpu(0).perfEventOutput(fd, PROG_MAX_REFS - 1, BPF_F_CURRENT_CPU, Uint8Array.of(1, 2, 3, 4)),
      -2,
      'the last reference reaches b: its empty slot is ENOENT',
    );
    app.close(fd);
    kernel.rcuBarrier();
    fillFileTable(app);
    assert.throws(
      () => app.bpf.progLoad({ maps: refs }),
      (x: unknown) => (x as PerfemuError).code === 'ERR_PERFEMU_UNSUPPORTED',
      "with the fd table full too, perfemu's cap comes first (the kernel's EMFILE comes after the verifier)",
    );
    throwsCode(() => app.bpf.progLoad({ maps: [a] }), 'EMFILE', 'a load within the cap gets EMFILE');
    kernel.rcuBarrier(); // a program that got no fd is freed as any program is: its maps go after a grace period
    assert.equal(refcnts(kernel).slice(0, 2), [1, 1], 'no reference left behind');
  });

  test(`${v}: a map's slots come back when its deferred free runs: a slot pool the size of one map serves map after map`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxSlots: 8 } });
    const app = kernel.process('app');
    for (let i = 0; i < 3; i++) {
      const m = perfArray(app, 8);
      throwsCode(() => perfArray(app, 1), 'ENOMEM', `round ${i}: the pool is full`);
      app.close(m);
      kernel.rcuBarrier();
    }
    assert.equal(liveMaps(kernel), []);
  });

  test(`${v}: the released hook names the map id and the file id of the map file being released`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    perfArray(app, 1);
    const m = perfArray(app, 1);
    const file = app.fileOf(m);
    const id = mapIdOfFd(kernel, file);
    const seen: { map: number; file: number }[] = [];
    kernel.hooks = { released: (i) => seen.push({ map: i.map, file: i.file }) };
    app.close(m);
    kernel.hooks = {};
    assert.equal(seen, [{ map: id, file }]);
  });

  test(`${v}: one map put too many is reported as a refcount underflow of that map, and frees nothing twice`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const m = perfArray(app, 1);
    const map = file_obj(kernel.k, app.fileIndex(m));
    app.close(m);
    bpf_map_put(kernel.k, map);
    assert.equal(
      kernel.violations().map((x) => [x.kind, x.cpu, x.args[0], x.args[1], x.args[2]]),
      [['refcount-underflow', -1, 2, map, 0]],
    );
    kernel.rcuBarrier();
    assert.equal(liveMaps(kernel), []);
  });
}

for (const v of BY_ID) {
  test(`${v}: BPF_MAP_GET_NEXT_ID walks the ids in order whatever the table order, skips a map whose last reference is gone, and is EPERM unprivileged`, () => {
    // a map table of 3: the fourth map reuses the first one's record, ahead of the others in the table
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxMaps: 3 } });
    const app = kernel.process('app');
    const [a, b, c] = [perfArray(app, 1), perfArray(app, 1), perfArray(app, 1)];
    const idOf = (fd: number) => mapIdOfFd(kernel, app.fileOf(fd));
    const [ia, ib, ic] = [idOf(a), idOf(b), idOf(c)];
    assert.ok(ia < ib && ib < ic);
    app.close(a);
    kernel.rcuBarrier();
    const d = perfArray(app, 1); // takes a's freed record, with a higher id
    const id = idOf(d);
    assert.ok(id > ic);
    assert.equal(
      kernel.inspect().maps.map((m) => m.id),
      [id, ib, ic],
      'table order is not id order',
    );
    const walk = (): number[] => {
      const ids: number[] = [];
      for (let at = 0; ; ) {
        try {
          at = app.bpf.mapGetNextId(at);
        } catch (err) {
          assert.is((err as { code?: string }).code, 'ENOENT');
          return ids;
        }
        ids.push(at);
      }
    };
    assert.equal(walk(), [ib, ic, id]);
    assert.is(app.bpf.mapGetNextId(ib - 1), ib, 'the start id itself is not skipped when below');
    app.close(c);
    assert.equal(
      kernel.inspect().work.map((w) => w.object),
      [ic],
      'c is not freed yet',
    );
    assert.equal(walk(), [ib, id], 'but has left the idr');
    throwsCode(() => kernel.process('user', { privileged: false }).bpf.mapGetNextId(0), 'EPERM');
  });

  test(`${v}: BPF_MAP_GET_FD_BY_ID opens the map with that id only, not one whose last reference is gone; RDONLY|WRONLY is EINVAL`, () => {
    const kernel = mk(v);
    const app = kernel.process('app');
    const [a, b] = [perfArray(app, 2), perfArray(app, 2)];
    const idOf = (fd: number) => mapIdOfFd(kernel, app.fileOf(fd));
    const fd = app.bpf.mapGetFdById(idOf(b), BPF_F_RDONLY);
    assert.is(idOf(fd), idOf(b));
    const f = kernel.inspect().files.find((x) => x.id === app.fileOf(fd))!;
    assert.is(f.mode, 'r');
    throwsCode(() => app.bpf.mapGetFdById(idOf(b), BPF_F_RDONLY | BPF_F_WRONLY), 'EINVAL');
    throwsCode(() => app.bpf.mapGetFdById(idOf(b) + 100), 'ENOENT');
    const ia = idOf(a);
    app.close(a);
    throwsCode(() => app.bpf.mapGetFdById(ia), 'ENOENT', 'a map waiting for its free');
    kernel.rcuBarrier();
    throwsCode(() => app.bpf.mapGetFdById(ia), 'ENOENT', 'a freed map');
  });

  test(`${v}: BPF_MAP_GET_FD_BY_ID of an id no map has is ENOENT, with the map table's neighbours full of entries`, () => {
    const kernel = mk(v, 1);
    const app = kernel.process('app');
    const m = perfArray(app, 8);
    for (let i = 0; i < 8; i++) app.bpf.mapUpdateElem(m, i, app.perfEventOpen({ cpu: 0, mmap: false }));
    const id = mapIdOfFd(kernel, app.fileOf(m));
    for (let other = id + 1; other < id + 10; other++) throwsCode(() => app.bpf.mapGetFdById(other), 'ENOENT', `id ${other}`);
    assert.equal(
      liveMaps(kernel).map((x) => [x.refcnt, x.usercnt, x.slots.filter(Boolean).length]),
      [[1, 1, 8]],
    );
  });

  test(`${v}: BPF_MAP_GET_FD_BY_ID with the file table full is EMFILE and drops the references it took`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxFiles: 8 } });
    const app = kernel.process('app');
    const m = perfArray(app, 1);
    const id = mapIdOfFd(kernel, app.fileOf(m));
    const freeOne = fillFileTable(app);
    throwsCode(() => app.bpf.mapGetFdById(id), 'EMFILE');
    assert.equal(
      liveMaps(kernel).map((x) => [x.refcnt, x.usercnt]),
      [[1, 1]],
    );
    freeOne();
    const fd = app.bpf.mapGetFdById(id);
    assert.equal(
      liveMaps(kernel).map((x) => [x.refcnt, x.usercnt]),
      [[2, 2]],
    );
    app.close(fd);
    app.close(m);
    kernel.rcuBarrier();
    assert.equal(liveMaps(kernel), []);
  });

  test(`${v}: BPF_MAP_FREEZE of a perf event fd is EINVAL, of a closed fd EBADF`, () => {
    const app = mk(v).process('app');
    throwsCode(() => app.bpf.mapFreeze(app.perfEventOpen({ cpu: 0 })), 'EINVAL');
    throwsCode(() => app.bpf.mapFreeze(99), 'EBADF');
  });
}

test.run();
