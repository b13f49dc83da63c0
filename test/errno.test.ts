/**
 * The errno of every rejected case of bpf(2), perf_event_open(2), the ioctls and the helper
 * (docs/semantics.md, "Errno ladders"): one test per case, per kernel version where the answer
 * differs, in the kernel's check order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BPF_EXIST,
  BPF_F_CURRENT_CPU,
  BPF_F_INNER_MAP,
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_F_NUMA_NODE,
  BPF_F_PATH_FD,
  BPF_F_PRESERVE_ELEMS,
  BPF_F_RDONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY,
  BPF_F_WRONLY_PROG,
  BPF_NOEXIST,
  Kernel,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_SOFTWARE,
  PERF_TYPE_TRACEPOINT,
} from '../src/index.js';
import { MODERN, OLD, VERSIONS, eventIdOf, event, mk, payload, perfArray, slots, throwsCode } from './fixtures/scenario.js';

const create = (
  p: import('../src/index.js').Process,
  o: Partial<{ type: 'perf_event_array' | 'array' | number; keySize: number; valueSize: number; maxEntries: number; flags: number; mapExtra: number }>,
) => p.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 4, ...o });

// ---------------------------------------------------------------------------------------
// BPF_MAP_CREATE

for (const v of VERSIONS) {
  test(`${v}: MAP_CREATE with a non-zero attr field past the known ones is EINVAL`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { mapExtra: 1 }), 'EINVAL');
  });
  test(`${v}: MAP_CREATE of an unknown map type is EINVAL`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { type: 9999 }), 'EINVAL');
  });
  test(`${v}: MAP_CREATE with value_size 8, key_size 8 or max_entries 0 is EINVAL`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { valueSize: 8 }), 'EINVAL', 'value_size 8');
    throwsCode(() => create(p, { keySize: 8 }), 'EINVAL', 'key_size 8');
    throwsCode(() => create(p, { maxEntries: 0 }), 'EINVAL', 'max_entries 0');
    throwsCode(() => create(p, { valueSize: 0 }), 'EINVAL', 'value_size 0');
  });
  test(`${v}: MAP_CREATE whose array reaches 4 GiB is ENOMEM, and a full slot pool is ENOMEM`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { maxEntries: 0x2000_0000 }), 'ENOMEM');
    throwsCode(() => create(p, { maxEntries: 5000 }), 'ENOMEM', 'more slots than the arena has');
  });
  test(`${v}: MAP_CREATE succeeds with refcnt = usercnt = 1 and every slot empty`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const fd = create(p, { maxEntries: 3 });
    assert.ok(fd >= 3);
    const m = kernel.inspect().maps[0]!;
    assert.equal([m.refcnt, m.usercnt, m.slots], [1, 1, [null, null, null]]);
    const f = kernel.inspect().files.find((x) => x.id === p.fileOf(fd))!;
    assert.equal([f.kind, f.object, f.refs, f.mode], ['map', m.id, 1, 'rw']);
  });
  test(`${v}: MAP_CREATE of a plain ARRAY checks value_size 0 (EINVAL) and its size against 4 GiB - PAGE_SIZE (ENOMEM from 536870392 entries of 8 bytes)`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { type: 'array', valueSize: 0 }), 'EINVAL');
    throwsCode(() => create(p, { type: 'array', maxEntries: 536870392 }), 'ENOMEM', 'exactly 4 GiB - PAGE_SIZE with the header');
    throwsCode(() => create(p, { type: 'array', maxEntries: 536870391 }), 'ERR_PERFEMU_UNSUPPORTED', 'one entry less fits (the kernel would create it)');
  });
  test(`${v}: MAP_CREATE with the map table full is ENOMEM, and the table takes a map again once one is freed`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxMaps: 1 } });
    const p = kernel.process('app');
    const fd = create(p, {});
    throwsCode(() => create(p, {}), 'ENOMEM');
    p.close(fd);
    kernel.rcuBarrier();
    assert.ok(create(p, {}) >= 3);
  });
  test(`${v}: MAP_CREATE by an unprivileged caller with unprivileged_bpf_disabled is EPERM`, () => {
    const kernel = mk(v);
    kernel.sysctl({ unprivilegedBpfDisabled: 1 });
    const u = kernel.process('user', { privileged: false });
    throwsCode(() => create(u, {}), 'EPERM');
    assert.ok(create(kernel.process('root'), {}) >= 3, 'a privileged caller still can');
  });
}
for (const v of OLD) {
  test(`${v}: MAP_CREATE with any map_flags bit (BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY) is EINVAL`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { flags: BPF_F_PRESERVE_ELEMS }), 'EINVAL');
    throwsCode(() => create(p, { flags: BPF_F_RDONLY }), 'EINVAL');
    throwsCode(() => create(p, { flags: BPF_F_NUMA_NODE }), 'EINVAL');
  });
}
for (const v of MODERN) {
  test(`${v}: MAP_CREATE of a perf array accepts NUMA_NODE, RDONLY, WRONLY and PRESERVE_ELEMS`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    for (const flags of [BPF_F_PRESERVE_ELEMS, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY]) assert.ok(create(p, { flags }) >= 3);
    assert.equal(
      kernel.inspect().maps.map((m) => m.flags),
      [BPF_F_PRESERVE_ELEMS, BPF_F_NUMA_NODE, 0, 0],
      'access bits stay with the fd',
    );
  });
  test(`${v}: MAP_CREATE with MMAPABLE, RDONLY_PROG, WRONLY_PROG, INNER_MAP, RDONLY|WRONLY or an unknown bit is EINVAL`, () => {
    const p = mk(v).process('app');
    for (const flags of [BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_F_INNER_MAP, BPF_F_RDONLY | BPF_F_WRONLY, 1 << 20]) {
      throwsCode(() => create(p, { flags }), 'EINVAL', `flags 0x${flags.toString(16)}`);
    }
  });
  test(`${v}: MAP_CREATE of a plain ARRAY with PRESERVE_ELEMS is EINVAL; without it perfemu says it does not model arrays`, () => {
    const p = mk(v).process('app');
    throwsCode(() => create(p, { type: 'array', flags: BPF_F_PRESERVE_ELEMS }), 'EINVAL');
    throwsCode(() => create(p, { type: 'array' }), 'ERR_PERFEMU_UNSUPPORTED');
  });
  test(`${v}: MAP_CREATE of a plain ARRAY takes MMAPABLE, INNER_MAP and one of RDONLY_PROG / WRONLY_PROG (perfemu then says it does not model arrays), not both, and not value_size 0`, () => {
    const p = mk(v).process('app');
    for (const flags of [BPF_F_MMAPABLE, BPF_F_INNER_MAP, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG]) {
      throwsCode(() => create(p, { type: 'array', flags }), 'ERR_PERFEMU_UNSUPPORTED', `flags 0x${flags.toString(16)}`);
    }
    throwsCode(() => create(p, { type: 'array', flags: BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG }), 'EINVAL');
    throwsCode(() => create(p, { type: 'array', valueSize: 0 }), 'EINVAL');
  });
  test(`${v}: MAP_CREATE with BPF_F_RDONLY returns a read-only fd`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const fd = create(p, { flags: BPF_F_RDONLY });
    assert.is(kernel.inspect().files.find((f) => f.id === p.fileOf(fd))!.mode, 'r');
  });
}

// ---------------------------------------------------------------------------------------
// BPF_MAP_UPDATE_ELEM

for (const v of VERSIONS) {
  test(`${v}: UPDATE through a closed fd is EBADF, through a non-map fd EINVAL`, () => {
    const p = mk(v).process('app');
    const ev = p.perfEventOpen({ cpu: 0 });
    throwsCode(() => p.bpf.mapUpdateElem(77, 0, ev), 'EBADF');
    throwsCode(() => p.bpf.mapUpdateElem(ev, 0, ev), 'EINVAL');
  });
  test(`${v}: UPDATE with BPF_NOEXIST or BPF_EXIST is EINVAL (only BPF_ANY)`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const ev = p.perfEventOpen({ cpu: 0 });
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, ev, BPF_NOEXIST), 'EINVAL');
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, ev, BPF_EXIST), 'EINVAL');
    assert.equal(slots(kernel), [null, null, null, null], 'failed updates leave the slot unchanged');
  });
  test(`${v}: UPDATE at index == max_entries is E2BIG, checked before the perf fd`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const ev = p.perfEventOpen({ cpu: 0 });
    throwsCode(() => p.bpf.mapUpdateElem(m, 4, ev), 'E2BIG');
    throwsCode(() => p.bpf.mapUpdateElem(m, 4, 99), 'E2BIG', 'index before fd');
    throwsCode(() => p.bpf.mapUpdateElem(m, 4, ev, BPF_EXIST), 'EINVAL', 'flags before index');
  });
  test(`${v}: UPDATE with a regular file's fd or a closed fd as value is EBADF, refs unchanged`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const file = p.openFile('/tmp/x');
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, file), 'EBADF');
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, 1), 'EBADF', 'stdout');
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, 99), 'EBADF');
    const ev = p.perfEventOpen({ cpu: 0, mmap: false });
    const id = eventIdOf(kernel, p, ev);
    p.close(ev);
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, ev), 'EBADF', 'closed perf fd');
    assert.is(event(kernel, id).alive, false, 'no mapping, no fd: the event is gone');
    assert.equal(slots(kernel), [null, null, null, null]);
  });
  test(`${v}: UPDATE of an event with inherit=1 is ${OLD.includes(v) ? 'EINVAL' : 'EOPNOTSUPP'} and drops the reference it took`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const ev = p.perfEventOpen({ cpu: 0, inherit: true });
    const refs = event(kernel, eventIdOf(kernel, p, ev)).fileRefs;
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, ev), OLD.includes(v) ? 'EINVAL' : 'EOPNOTSUPP');
    assert.is(event(kernel, eventIdOf(kernel, p, ev)).fileRefs, refs);
    assert.equal(slots(kernel)[0], null);
  });
  test(`${v}: UPDATE of a SW CPU_CLOCK or tracepoint event is ${OLD.includes(v) ? 'EINVAL' : 'accepted'}; HARDWARE and BPF_OUTPUT always are`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const clock = p.perfEventOpen({ cpu: 0, type: PERF_TYPE_SOFTWARE, config: 'cpu_clock' });
    const tp = p.perfEventOpen({ cpu: 0, type: PERF_TYPE_TRACEPOINT, config: 7 });
    if (OLD.includes(v)) {
      throwsCode(() => p.bpf.mapUpdateElem(m, 0, clock), 'EINVAL');
      throwsCode(() => p.bpf.mapUpdateElem(m, 0, tp), 'EINVAL');
    } else {
      p.bpf.mapUpdateElem(m, 0, clock);
      p.bpf.mapUpdateElem(m, 1, tp);
    }
    p.bpf.mapUpdateElem(m, 2, p.perfEventOpen({ cpu: 1, type: PERF_TYPE_HARDWARE, config: 0 }));
    p.bpf.mapUpdateElem(m, 3, p.perfEventOpen({ cpu: 1 }));
  });
  test(`${v}: UPDATE succeeds: the slot holds the event, owned by the map file of the fd used; +1 perf file ref`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const ev = p.perfEventOpen({ cpu: 2 });
    const id = eventIdOf(kernel, p, ev);
    const before = event(kernel, id).fileRefs;
    p.bpf.mapUpdateElem(m, 2, ev);
    assert.equal(slots(kernel)[2], { event: id, owner: p.fileOf(m) });
    assert.is(event(kernel, id).fileRefs, before + 1);
  });
  test(`${v}: UPDATE when the entry table is full is ENOMEM and takes no reference`, () => {
    const small = Kernel.create({ cpus: 2, version: v, limits: { maxEntries: 2 } });
    const p = small.process('app');
    const m = perfArray(p);
    const ev = p.perfEventOpen({ cpu: 0 });
    p.bpf.mapUpdateElem(m, 0, ev);
    p.bpf.mapUpdateElem(m, 1, ev);
    const refs = small.inspect().perfEvents[0]!.fileRefs;
    throwsCode(() => p.bpf.mapUpdateElem(m, 2, ev), 'ENOMEM');
    assert.is(small.inspect().perfEvents[0]!.fileRefs, refs);
  });
}
for (const v of MODERN) {
  test(`${v}: UPDATE and DELETE through a read-only frontend are EPERM, through a frozen map EPERM`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const ev = p.perfEventOpen({ cpu: 0 });
    p.bpf.objPin(m, '/sys/fs/bpf/m');
    const ro = p.bpf.objGet('/sys/fs/bpf/m', BPF_F_RDONLY);
    throwsCode(() => p.bpf.mapUpdateElem(ro, 0, ev), 'EPERM');
    throwsCode(() => p.bpf.mapDeleteElem(ro, 0), 'EPERM');
    p.bpf.mapUpdateElem(m, 0, ev);
    p.bpf.mapFreeze(m);
    throwsCode(() => p.bpf.mapUpdateElem(m, 1, ev), 'EPERM', 'frozen');
    throwsCode(() => p.bpf.mapDeleteElem(m, 0), 'EPERM', 'frozen');
  });
  test(`${v}: UPDATE with BPF_F_LOCK is EINVAL (no spin lock in a perf array)`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    throwsCode(() => p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0 }), BPF_F_LOCK), 'EINVAL');
  });
  test(`${v}: FREEZE: twice is ${v === '6.18' ? 'EPERM (write access gone)' : 'EBUSY'}; through a read-only fd ${v === '6.18' ? 'EPERM' : 'allowed'}`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    p.bpf.mapFreeze(m);
    throwsCode(() => p.bpf.mapFreeze(m), v === '6.18' ? 'EPERM' : 'EBUSY');
    const m2 = perfArray(p, 4, BPF_F_RDONLY);
    if (v === '6.18') throwsCode(() => p.bpf.mapFreeze(m2), 'EPERM');
    else p.bpf.mapFreeze(m2);
  });
}
for (const v of OLD) {
  test(`${v}: BPF_MAP_FREEZE and BPF_MAP_GET_FD_BY_ID are unknown commands: EINVAL`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    throwsCode(() => p.bpf.mapFreeze(m), 'EINVAL');
    throwsCode(() => p.bpf.mapGetFdById(1), 'EINVAL');
  });
}

// ---------------------------------------------------------------------------------------
// BPF_MAP_LOOKUP_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY

for (const v of VERSIONS) {
  const code = OLD.includes(v) ? 'ENOENT' : 'ENOTSUPP';
  test(`${v}: LOOKUP never works: ${code} for an occupied, an empty and an out-of-range key`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0 }));
    for (const key of [0, 1, 100]) throwsCode(() => p.bpf.mapLookupElem(m, key), code, `key ${key}`);
    if (code === 'ENOTSUPP') {
      try {
        p.bpf.mapLookupElem(m, 0);
      } catch (e) {
        assert.is((e as { errno: number }).errno, -524);
      }
    }
    throwsCode(() => p.bpf.mapLookupElem(55, 0), 'EBADF');
  });
  test(`${v}: DELETE: empty slot ENOENT, index >= max E2BIG, occupied 0 then ENOENT, any frontend may delete`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    throwsCode(() => p.bpf.mapDeleteElem(m, 0), 'ENOENT');
    throwsCode(() => p.bpf.mapDeleteElem(m, 4), 'E2BIG');
    p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0 }));
    p.bpf.mapDeleteElem(m, 0);
    throwsCode(() => p.bpf.mapDeleteElem(m, 0), 'ENOENT');
    p.bpf.mapUpdateElem(m, 1, p.perfEventOpen({ cpu: 1 }));
    p.bpf.objPin(m, '/sys/fs/bpf/m');
    const g = kernel.process('other').bpf;
    const gfd = g.objGet('/sys/fs/bpf/m');
    g.mapDeleteElem(gfd, 1);
    assert.equal(slots(kernel), [null, null, null, null]);
    throwsCode(() => p.bpf.mapDeleteElem(99, 0), 'EBADF');
    throwsCode(() => p.bpf.mapDeleteElem(1, 0), 'EINVAL', 'not a map');
  });
  test(`${v}: GET_NEXT_KEY is index arithmetic: 4 and 0xffffffff -> 0, 0 -> 1, 2 -> 3, 3 -> ENOENT, whatever the slots hold`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    assert.is(p.bpf.mapGetNextKey(m, 4), 0);
    assert.is(p.bpf.mapGetNextKey(m, 0xffffffff), 0);
    assert.is(p.bpf.mapGetNextKey(m, 0), 1);
    p.bpf.mapUpdateElem(m, 2, p.perfEventOpen({ cpu: 0 }));
    assert.is(p.bpf.mapGetNextKey(m, 2), 3);
    throwsCode(() => p.bpf.mapGetNextKey(m, 3), 'ENOENT');
    throwsCode(() => p.bpf.mapGetNextKey(42, 0), 'EBADF');
  });
  test(`${v}: GET_NEXT_KEY with a NULL key ${OLD.includes(v) ? 'is EFAULT' : 'starts at 0'}`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    if (OLD.includes(v)) throwsCode(() => p.bpf.mapGetNextKey(m, null), 'EFAULT');
    else assert.is(p.bpf.mapGetNextKey(m, null), 0);
  });
}
for (const v of MODERN) {
  test(`${v}: LOOKUP flags other than BPF_F_LOCK are EINVAL before the fd is resolved; BPF_F_LOCK is EINVAL`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    throwsCode(() => p.bpf.mapLookupElem(99, 0, 1), 'EINVAL', 'bad flags beat a bad fd');
    throwsCode(() => p.bpf.mapLookupElem(m, 0, BPF_F_LOCK), 'EINVAL');
  });
  test(`${v}: LOOKUP and GET_NEXT_KEY through a write-only frontend are EPERM`, () => {
    const p = mk(v).process('app');
    const wo = perfArray(p, 4, BPF_F_WRONLY);
    throwsCode(() => p.bpf.mapLookupElem(wo, 0), 'EPERM');
    throwsCode(() => p.bpf.mapGetNextKey(wo, 0), 'EPERM');
  });
}
for (const v of ['4.7', '4.8', '5.10'] as const) {
  test(`${v}: every bpf() command of an unprivileged caller is EPERM with unprivileged_bpf_disabled`, () => {
    const kernel = mk(v);
    const root = kernel.process('root');
    root.bpf.objPin(perfArray(root), '/sys/fs/bpf/m');
    const user = kernel.process('user', { privileged: false });
    const fd = user.bpf.objGet('/sys/fs/bpf/m');
    const ev = user.perfEventOpen({ cpu: 0 });
    kernel.sysctl({ unprivilegedBpfDisabled: 1 });
    throwsCode(() => user.bpf.mapUpdateElem(fd, 0, ev), 'EPERM', 'update');
    throwsCode(() => user.bpf.mapDeleteElem(fd, 0), 'EPERM', 'delete');
    throwsCode(() => user.bpf.mapGetNextKey(fd, 0), 'EPERM', 'get_next_key');
    throwsCode(() => user.bpf.objGet('/sys/fs/bpf/m'), 'EPERM', 'obj_get');
  });
}
test('6.18: an unprivileged caller keeps using an existing map with unprivileged_bpf_disabled (only creation is refused)', () => {
  const kernel = mk('6.18');
  const root = kernel.process('root');
  const m = perfArray(root);
  root.bpf.objPin(m, '/sys/fs/bpf/m');
  const user = kernel.process('user', { privileged: false });
  kernel.sysctl({ unprivilegedBpfDisabled: 1 });
  const fd = user.bpf.objGet('/sys/fs/bpf/m');
  user.bpf.mapUpdateElem(fd, 0, user.perfEventOpen({ cpu: 0 }));
  throwsCode(() => perfArray(user), 'EPERM');
});

// ---------------------------------------------------------------------------------------
// BPF_OBJ_PIN, BPF_OBJ_GET, unlink, BPF_MAP_GET_FD_BY_ID

for (const v of VERSIONS) {
  test(`${v}: OBJ_PIN takes refcnt+usercnt and creates no file; a second pin at the path is EEXIST`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const files = kernel.inspect().files.length;
    p.bpf.objPin(m, '/sys/fs/bpf/m');
    const s = kernel.inspect();
    assert.equal([s.maps[0]!.refcnt, s.maps[0]!.usercnt, s.files.length], [2, 2, files]);
    assert.equal(s.pins, [{ path: '/sys/fs/bpf/m', kind: 'map', object: s.maps[0]!.id }]);
    throwsCode(() => p.bpf.objPin(m, '/sys/fs/bpf/m'), 'EEXIST');
  });
  test(`${v}: OBJ_PIN outside bpffs is EPERM, in a missing bpffs directory ENOENT, with flags EINVAL`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    throwsCode(() => p.bpf.objPin(m, '/tmp/m'), 'EPERM');
    throwsCode(() => p.bpf.objPin(m, '/sys/fs/bpf/nodir/m'), 'ENOENT');
    throwsCode(() => p.bpf.objPin(m, '/sys/fs/bpf/m', BPF_F_RDONLY), 'EINVAL');
  });
  test(`${v}: OBJ_PIN of a closed fd is ${OLD.includes(v) ? 'EBADF' : 'EINVAL'}, of a non-bpf fd EINVAL`, () => {
    const p = mk(v).process('app');
    throwsCode(() => p.bpf.objPin(50, '/sys/fs/bpf/m'), OLD.includes(v) ? 'EBADF' : 'EINVAL');
    throwsCode(() => p.bpf.objPin(p.perfEventOpen({ cpu: 0 }), '/sys/fs/bpf/m'), 'EINVAL');
  });
  test(`${v}: OBJ_GET of a missing path is ENOENT; of a pin, a new map file (+refcnt +usercnt)`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    throwsCode(() => p.bpf.objGet('/sys/fs/bpf/none'), 'ENOENT');
    const m = perfArray(p);
    p.bpf.objPin(m, '/sys/fs/bpf/m');
    const g = p.bpf.objGet('/sys/fs/bpf/m');
    assert.is.not(p.fileOf(g), p.fileOf(m), 'a new file: a new owner identity');
    const s = kernel.inspect().maps[0]!;
    assert.equal([s.refcnt, s.usercnt], [3, 3]);
  });
  test(`${v}: unlink of a pin drops its references ${v === '5.10' ? 'after a grace period' : 'at once'}; entries unaffected; unlink again is ENOENT`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0 }));
    p.bpf.objPin(m, '/sys/fs/bpf/m');
    p.unlink('/sys/fs/bpf/m');
    const before = kernel.inspect().maps[0]!;
    assert.is(before.refcnt, v === '5.10' ? 2 : 1);
    kernel.rcuBarrier();
    const after = kernel.inspect().maps[0]!;
    assert.equal([after.refcnt, after.usercnt], [1, 1]);
    assert.ok(after.slots[0]);
    throwsCode(() => p.unlink('/sys/fs/bpf/m'), 'ENOENT');
  });
}
for (const v of OLD) {
  test(`${v}: OBJ_GET with any file_flags is EINVAL`, () => {
    const p = mk(v).process('app');
    p.bpf.objPin(perfArray(p), '/sys/fs/bpf/m');
    throwsCode(() => p.bpf.objGet('/sys/fs/bpf/m', BPF_F_RDONLY), 'EINVAL');
  });
}
for (const v of MODERN) {
  test(`${v}: OBJ_GET with RDONLY|WRONLY or an unknown flag is EINVAL; PATH_FD ${v === '6.18' ? 'is accepted' : 'is EINVAL'}`, () => {
    const p = mk(v).process('app');
    p.bpf.objPin(perfArray(p), '/sys/fs/bpf/m');
    throwsCode(() => p.bpf.objGet('/sys/fs/bpf/m', BPF_F_RDONLY | BPF_F_WRONLY), 'EINVAL');
    throwsCode(() => p.bpf.objGet('/sys/fs/bpf/m', 1 << 20), 'EINVAL');
    if (v === '6.18') assert.ok(p.bpf.objGet('/sys/fs/bpf/m', BPF_F_PATH_FD) >= 3);
    else throwsCode(() => p.bpf.objGet('/sys/fs/bpf/m', BPF_F_PATH_FD), 'EINVAL');
  });
  test(`${v}: OBJ_GET of a pinned program with RDONLY or WRONLY gives a program fd (bpf_obj_get_user: only a link needs O_RDWR)`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const prog = p.bpf.progLoad({ maps: [perfArray(p)] });
    p.bpf.objPin(prog, '/sys/fs/bpf/prog');
    const ro = p.bpf.objGet('/sys/fs/bpf/prog', BPF_F_RDONLY);
    const wo = p.bpf.objGet('/sys/fs/bpf/prog', BPF_F_WRONLY);
    assert.ok(ro >= 3 && wo >= 3 && ro !== wo);
    // each is a new file holding its own reference on the same program
    assert.is(kernel.inspect().progs[0]!.refcnt, 4);
    throwsCode(() => p.bpf.objGet('/sys/fs/bpf/prog', BPF_F_RDONLY | BPF_F_WRONLY), 'EINVAL');
    p.close(ro);
    p.close(wo);
    assert.is(kernel.inspect().progs[0]!.refcnt, 2);
    assert.ok(p.bpf.objGet('/sys/fs/bpf/prog') >= 3);
  });
  test(`${v}: MAP_GET_FD_BY_ID: a new frontend; unknown id ENOENT; bad open_flags EINVAL; unprivileged EPERM`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const m = perfArray(p);
    const id = kernel.inspect().maps[0]!.id;
    const g = p.bpf.mapGetFdById(id);
    assert.is.not(p.fileOf(g), p.fileOf(m));
    assert.is(kernel.inspect().maps[0]!.usercnt, 2);
    throwsCode(() => p.bpf.mapGetFdById(id + 100), 'ENOENT');
    throwsCode(() => p.bpf.mapGetFdById(id, 1), 'EINVAL');
    throwsCode(() => kernel.process('u', { privileged: false }).bpf.mapGetFdById(id), 'EPERM');
  });
}

// ---------------------------------------------------------------------------------------
// perf_event_open and mmap

for (const v of VERSIONS) {
  test(`${v}: perf_event_open: pid -1 with cpu -1 EINVAL, cpu >= nr_cpus EINVAL, unknown type ENOENT`, () => {
    const p = mk(v, 4).process('app');
    throwsCode(() => p.perfEventOpen({ cpu: -1 }), 'EINVAL');
    throwsCode(() => p.perfEventOpen({ cpu: 4 }), 'EINVAL');
    throwsCode(() => p.perfEventOpen({ cpu: 0, type: 99 }), 'ENOENT');
  });
  test(`${v}: perf_event_open: software config >= PERF_COUNT_SW_MAX is ENOENT, hardware config >= HW_MAX EINVAL`, () => {
    const p = mk(v).process('app');
    throwsCode(() => p.perfEventOpen({ cpu: 0, type: 'software', config: v === '6.18' ? 12 : 11 }), 'ENOENT');
    throwsCode(() => p.perfEventOpen({ cpu: 0, type: 'hardware', config: 10 }), 'EINVAL');
    if (v === '6.18') assert.ok(p.perfEventOpen({ cpu: 0, type: 'software', config: 11 }) >= 3, 'CGROUP_SWITCHES exists in 6.18');
  });
  test(`${v}: mmap with a data page count that is not a power of two is EINVAL (and the event is closed)`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    throwsCode(() => p.perfEventOpen({ cpu: 0, pages: 3 }), 'EINVAL');
    assert.equal(
      kernel.inspect().perfEvents.map((e) => e.alive),
      [false],
    );
    assert.ok(p.perfEventOpen({ cpu: 0, pages: 0 }) >= 3, '0 data pages is allowed');
  });
}

// ---------------------------------------------------------------------------------------
// bpf_perf_event_output (kernel/trace/bpf_trace.c, __bpf_perf_event_output)

function outputSetup(v: import('../src/index.js').KernelVersion, maxEntries = 2) {
  const kernel = mk(v, 4);
  const p = kernel.process('app');
  const m = perfArray(p, maxEntries);
  const prog = p.bpf.progLoad({ maps: [m] });
  return { kernel, p, m, prog };
}

for (const v of VERSIONS) {
  test(`${v}: output with a flags bit above the index mask is EINVAL, before the index check`, () => {
    const { kernel, prog } = outputSetup(v);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 2 ** 32, payload(8)), -22);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, (1n << 32n) | 100n, payload(8)), -22);
  });
  test(`${v}: output to an explicit index >= max_entries, or CURRENT_CPU on a CPU >= max_entries, is E2BIG`, () => {
    const { kernel, prog } = outputSetup(v, 2);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 2, payload(8)), -7);
    assert.is(kernel.cpu(3).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), -7);
  });
  test(`${v}: output to an empty slot is ENOENT`, () => {
    const { kernel, prog } = outputSetup(v);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), -2);
  });
  test(`${v}: output to a slot holding a HARDWARE event is EINVAL`, () => {
    const { kernel, p, m, prog } = outputSetup(v);
    p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0, type: 'hardware', config: 0 }));
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)), -22);
  });
  test(`${v}: output on CPU 1 into CPU 0's event is EOPNOTSUPP; into a disabled event EOPNOTSUPP`, () => {
    const { kernel, p, m, prog } = outputSetup(v);
    const ev = p.perfEventOpen({ cpu: 0 });
    p.bpf.mapUpdateElem(m, 0, ev);
    assert.is(kernel.cpu(1).perfEventOutput(prog, 0, 0, payload(8)), -95);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)), 0);
    p.ioctl(ev, 'PERF_EVENT_IOC_DISABLE');
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)), -95);
    p.ioctl(ev, 'PERF_EVENT_IOC_ENABLE');
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)), 0);
  });
  test(`${v}: output into an event without a ring returns ${OLD.includes(v) ? '0 (silently dropped)' : '-ENOSPC'} and counts no loss`, () => {
    const { kernel, p, m, prog } = outputSetup(v);
    const ev = p.perfEventOpen({ cpu: 0, mmap: false });
    p.bpf.mapUpdateElem(m, 0, ev);
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)), OLD.includes(v) ? 0 : -28);
    const s = kernel.inspect();
    assert.equal([s.cpuCounters[0]!.noRing, s.cpuCounters[0]!.lost, s.perfEvents[0]!.lostSamples], [1, 0, 0]);
  });
}
for (const v of MODERN) {
  test(`${v}: a fourth nested output on one CPU is EBUSY, checked before the flags`, () => {
    const { kernel, p, m, prog } = outputSetup(v);
    const ev = p.perfEventOpen({ cpu: 0 });
    p.bpf.mapUpdateElem(m, 0, ev);
    const results: number[] = [];
    kernel.hooks = {
      outputReserved: ({ nest }) => {
        if (nest < 3) results.push(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)));
        else results.push(kernel.cpu(0).perfEventOutput(prog, 0, 2 ** 32 /* bad flags too */, payload(8)));
      },
    };
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)), 0);
    assert.equal(results, [-16, 0, 0], 'innermost (4th) is EBUSY; the 2nd and 3rd succeed');
    kernel.hooks = {};
    const recs = p.readRing(ev);
    assert.is(recs.filter((r) => r.type === 'sample').length, 3);
  });
}
test('4.8: nesting is unlimited (no EBUSY before 5.10)', () => {
  const { kernel, p, m, prog } = outputSetup('4.8');
  const ev = p.perfEventOpen({ cpu: 0 });
  p.bpf.mapUpdateElem(m, 0, ev);
  const results: number[] = [];
  kernel.hooks = {
    outputReserved: ({ nest }) => {
      if (nest < 5) results.push(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8)));
    },
  };
  kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8));
  assert.equal(results, [0, 0, 0, 0]);
  assert.is(p.readRing(ev).length, 5);
});

test.run();
