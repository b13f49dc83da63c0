/**
 * bpffs pins (kernel/bpf/inode.c): path checks, a full pin table, and BPF_OBJ_GET with the
 * file table full; each failure gives back the reference it took. Per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_RDONLY, Kernel, type KernelVersion } from '../src/index.js';
import { VERSIONS, fillFileTable, perfArray, throwsCode } from './fixtures/scenario.js';

function kernelOf(v: KernelVersion, limits: Record<string, number> = {}) {
  const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, ...limits } });
  return { kernel, app: kernel.process('app') };
}
const mapRefs = (kernel: Kernel) =>
  kernel
    .inspect()
    .maps.filter((m) => m.alive)
    .map((m) => [m.refcnt, m.usercnt]);
const progRefs = (kernel: Kernel) =>
  kernel
    .inspect()
    .progs.filter((p) => p.alive)
    .map((p) => p.refcnt);

for (const v of VERSIONS) {
  test(`${v}: a pin path of 252 bytes is taken, 253 is ENAMETOOLONG; a path ending in '/' is EINVAL`, () => {
    const { kernel, app } = kernelOf(v);
    const m = perfArray(app);
    const root = '/sys/fs/bpf/';
    app.bpf.objPin(m, root + 'a'.repeat(252 - root.length));
    throwsCode(() => app.bpf.objPin(m, root + 'b'.repeat(253 - root.length)), 'ENAMETOOLONG');
    throwsCode(() => app.bpf.objPin(m, root), 'EINVAL');
    assert.equal(mapRefs(kernel), [[2, 2]], 'one pin, the failed ones gave their reference back');
  });

  test(`${v}: a full pin table is ENOMEM and the reference taken for the pin is dropped (map and program)`, () => {
    const { kernel, app } = kernelOf(v, { maxPins: 1 });
    const m = perfArray(app);
    const prog = app.bpf.progLoad({ maps: [m] });
    app.bpf.objPin(m, '/sys/fs/bpf/m');
    throwsCode(() => app.bpf.objPin(m, '/sys/fs/bpf/m2'), 'ENOMEM');
    throwsCode(() => app.bpf.objPin(prog, '/sys/fs/bpf/p'), 'ENOMEM');
    kernel.rcuBarrier();
    assert.equal(mapRefs(kernel), [[3, 2]], 'fd + pin + program; fd + pin');
    assert.equal(progRefs(kernel), [1]);
  });

  test(`${v}: BPF_OBJ_GET with the file table full is EMFILE and drops the reference it took (map and program)`, () => {
    const { kernel, app } = kernelOf(v, { maxFiles: 10 });
    const m = perfArray(app);
    const prog = app.bpf.progLoad({ maps: [m] });
    app.bpf.objPin(m, '/sys/fs/bpf/m');
    app.bpf.objPin(prog, '/sys/fs/bpf/p');
    const freeOne = fillFileTable(app);
    throwsCode(() => app.bpf.objGet('/sys/fs/bpf/m'), 'EMFILE');
    throwsCode(() => app.bpf.objGet('/sys/fs/bpf/p'), 'EMFILE');
    kernel.rcuBarrier();
    assert.equal(mapRefs(kernel), [[3, 2]]);
    assert.equal(progRefs(kernel), [2]);
    freeOne();
    const g = app.bpf.objGet('/sys/fs/bpf/p');
    assert.equal(progRefs(kernel), [3]);
    app.close(g);
    if (kernel.inspect().version === '4.7' || kernel.inspect().version === '4.8') {
      // 4.x: BPF_OBJ_GET takes no flags at all
      throwsCode(() => app.bpf.objGet('/sys/fs/bpf/p', BPF_F_RDONLY), 'EINVAL', 'no flags before 4.15');
    } else {
      // bpf_obj_get_user (kernel/bpf/inode.c): a pinned program opens as a program fd whatever
      // the access flags say (only a link needs O_RDWR); the new fd holds its own reference
      const ro = app.bpf.objGet('/sys/fs/bpf/p', BPF_F_RDONLY);
      assert.equal(progRefs(kernel), [3]);
      app.close(ro);
    }
    assert.equal(progRefs(kernel), [2], 'no reference is left behind');
  });
}

for (const v of VERSIONS) {
  test(`${v}: BPF_OBJ_PIN of a closed fd is ${['4.7', '4.8'].includes(v) ? 'EBADF' : 'EINVAL'}; an unprivileged pin with unprivileged bpf disabled is ${v === '6.18' ? 'not refused at entry' : 'EPERM'}`, () => {
    const { kernel, app } = kernelOf(v);
    const m = perfArray(app);
    throwsCode(() => app.bpf.objPin(99, '/sys/fs/bpf/x'), ['4.7', '4.8'].includes(v) ? 'EBADF' : 'EINVAL');
    kernel.sysctl({ unprivilegedBpfDisabled: 1 });
    const user = kernel.process('user', { privileged: false });
    // 6.18 checks privilege per command (map_create, prog_load), not at syscall entry; there the
    // fd, which is not the user's, is EINVAL
    throwsCode(() => user.bpf.objPin(m, '/sys/fs/bpf/x'), v === '6.18' ? 'EINVAL' : 'EPERM');
    assert.equal(kernel.inspect().pins, []);
  });
}

test.run();
