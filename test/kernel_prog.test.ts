/**
 * BPF programs (kernel/bpf/core.c, syscall.c): each program holds one reference on each
 * distinct map it uses; a pin or an OBJ_GET holds the program; the last put frees it a grace
 * period later, and only then are its map references dropped; a put too many is reported.
 * Synchronous, per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kernel, type KernelVersion } from '../src/index.js';
import { PROG_STRIDE } from '../src/arena/layout.js';
import { bpf_prog_put, prog_id, prog_maps, prog_refcnt } from '../src/kernel/bpf/core.js';
import { VERSIONS, perfArray, throwsCode } from './fixtures/scenario.js';

function kernelOf(v: KernelVersion, limits: Record<string, number> = {}) {
  const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, ...limits } });
  return { kernel, app: kernel.process('app') };
}
const liveProgs = (kernel: Kernel) => kernel.inspect().progs.filter((p) => p.alive);
const mapRefs = (kernel: Kernel) =>
  kernel
    .inspect()
    .maps.filter((m) => m.alive)
    .map((m) => m.refcnt);

for (const v of VERSIONS) {
  test(`${v}: programs get increasing ids and keep their own map lists; each distinct map is referenced once per program`, () => {
    const { kernel, app } = kernelOf(v);
    const [a, b, c] = [perfArray(app), perfArray(app), perfArray(app)];
    app.bpf.progLoad({ maps: [a] });
    app.bpf.progLoad({ maps: [b, c, b] });
    app.bpf.progLoad({ maps: [c] });
    const progs = liveProgs(kernel);
    assert.equal(
      progs.map((p) => p.refcnt),
      [1, 1, 1],
    );
    assert.ok(progs[0]!.id >= 1 && progs[0]!.id < progs[1]!.id && progs[1]!.id < progs[2]!.id, `ids ${progs.map((p) => p.id)}`);
    const mapIds = kernel
      .inspect()
      .maps.filter((m) => m.alive)
      .map((m) => m.id);
    assert.equal(
      progs.map((p) => p.maps),
      [[mapIds[0]], [mapIds[1], mapIds[2], mapIds[1]], [mapIds[2]]],
    );
    assert.equal(mapRefs(kernel), [2, 2, 3]);
  });

  test(`${v}: the program table full is ENOMEM, and the map references taken for it are dropped`, () => {
    const { kernel, app } = kernelOf(v, { maxProgs: 1 });
    const m = perfArray(app);
    app.bpf.progLoad({ maps: [m] });
    throwsCode(() => app.bpf.progLoad({ maps: [m] }), 'ENOMEM');
    assert.equal(mapRefs(kernel), [2]);
  });

  test(`${v}: the program is allocated before the verifier: a full table is ENOMEM even for a bad fd; a refused program leaves no record and takes no id`, () => {
    const { kernel, app } = kernelOf(v, { maxProgs: 2 });
    const m = perfArray(app);
    const first = app.bpf.progLoad({ maps: [m] });
    throwsCode(() => app.bpf.progLoad({ maps: [m, 999] }), 'EBADF'); // a record free: the verifier's error
    throwsCode(() => app.bpf.progLoad({ maps: [first] }), 'EINVAL'); // a prog fd is not a map
    assert.equal(
      kernel.inspect().progs.map((p) => [p.id, p.alive]),
      [[1, true]],
      'the refused ones left nothing',
    );
    const second = app.bpf.progLoad({ maps: [m] });
    assert.equal(
      kernel.inspect().progs.map((p) => p.id),
      [1, 2],
      'ids only for loaded programs',
    );
    const L = kernel.arena.L;
    const before = kernel.arena.i32.slice(L.progBase - PROG_STRIDE, L.progBase); // the words just before the table
    throwsCode(() => app.bpf.progLoad({ maps: [m, 999] }), 'ENOMEM'); // the table full comes first
    throwsCode(() => app.bpf.progLoad({ maps: [second] }), 'ENOMEM');
    assert.equal(mapRefs(kernel), [3]);
    assert.equal([...kernel.arena.i32.slice(L.progBase - PROG_STRIDE, L.progBase)], [...before], 'a refused allocation writes nothing');
  });

  test(`${v}: a pinned program outlives its fd; OBJ_GET takes one more reference; the last put frees it a grace period later, then its maps are put`, () => {
    const { kernel, app } = kernelOf(v);
    const m = perfArray(app);
    const prog = app.bpf.progLoad({ maps: [m, m] });
    app.bpf.objPin(prog, '/sys/fs/bpf/p');
    assert.equal(
      liveProgs(kernel).map((p) => p.refcnt),
      [2],
    );
    const again = app.bpf.objGet('/sys/fs/bpf/p');
    assert.equal(
      liveProgs(kernel).map((p) => p.refcnt),
      [3],
    );
    app.close(prog);
    app.close(again);
    assert.equal(
      liveProgs(kernel).map((p) => p.refcnt),
      [1],
      'held by the pin',
    );
    app.unlink('/sys/fs/bpf/p');
    // 5.10's bpffs drops the pin's reference in .free_inode, itself a grace period later
    assert.equal(
      kernel.inspect().rcu.pending.map((p) => p.kind),
      [v === '5.10' ? 'pin_put_prog' : 'prog_free'],
    );
    kernel.rcuBarrier();
    assert.equal(liveProgs(kernel), []);
    assert.equal(mapRefs(kernel), [1], 'one put for the one distinct map');
    assert.equal(kernel.inspect().violations, []);
  });

  test(`${v}: the kernel accessors of a program, and a put too many reported as a refcount underflow`, () => {
    const { kernel, app } = kernelOf(v);
    const [a, b] = [perfArray(app), perfArray(app)];
    app.bpf.progLoad({ maps: [a] });
    const fd = app.bpf.progLoad({ maps: [b, a] });
    const k = kernel.k;
    const p = app.bpf.progIndex(fd);
    const mapIdx = (id: number) => kernel.inspect().maps.findIndex((m) => m.id === id);
    assert.equal([prog_id(k, p), prog_refcnt(k, p)], [liveProgs(kernel)[1]!.id, 1]);
    const ids = liveProgs(kernel)[1]!.maps;
    assert.equal(prog_maps(k, p), ids.map(mapIdx));
    app.close(fd);
    bpf_prog_put(k, p);
    const vs = kernel.violations();
    assert.equal(
      vs.map((x) => [x.kind, x.cpu, x.args[0], x.args[1], x.args[2]]),
      [['refcount-underflow', -1, 3, p, 0]],
    );
    kernel.rcuBarrier();
    assert.equal(mapRefs(kernel), [2, 1], 'freed once: a held by the first program only');
  });
}

test.run();
