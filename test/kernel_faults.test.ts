/**
 * The injected faults (`perfemu stress --inject NAME`, Kernel.create({ inject })): the catalogue
 * users see, and each fault's deviation from the correct kernel, shown synchronously in one
 * thread (the stress and explorer suites show that the invariants catch them under races).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CorruptRingError, Kernel, type KernelVersion, type Process, type RingRecord } from '../src/index.js';
import { ScheduledArena } from '../src/explore/arena.js';
import { INVARIANTS } from '../src/invariants/registry.js';
import { FAULTS, fault_kernels } from '../src/kernel/faults.js';
import { rcu_read_lock, rcu_read_unlock } from '../src/kernel/rcu.js';
import { FIXED, VERSIONS, event, eventIdOf, payload, perfArray, slots, throwsCode } from './fixtures/scenario.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const limits = { ringPages: 64, maxSlots: 256, maxEntries: 64 };

function faulty(version: KernelVersion, inject?: string, cpus = 2): Kernel {
  return Kernel.create({ cpus, version, limits, ...(inject ? { inject } : {}) });
}

/** an app with a map of 4 slots and one perf event on CPU 0 */
function world(version: KernelVersion, inject?: string) {
  const kernel = faulty(version, inject);
  const app = kernel.process('app');
  const m = perfArray(app);
  const open = (): { fd: number; id: number } => {
    const fd = app.perfEventOpen({ cpu: 0, mmap: false }); // only the fd holds its file
    return { fd, id: eventIdOf(kernel, app, fd) };
  };
  return { kernel, app, m, open };
}

// ---------------------------------------------------------------------------------------
// The catalogue

test('the fault catalogue is the README table: name, what is broken, and the invariant that catches it', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('| fault | what is broken | the invariant that catches it |');
  assert.ok(at > 0, 'the README has the fault table');
  const table = readme.slice(at, readme.indexOf('\n\n', at));
  const rows = [...table.matchAll(/^\| `([\w.-]+)` \| (.+) \| ([\w-]+) \|$/gm)].map((r) => [r[1], r[2], r[3]]);
  assert.equal(
    rows,
    FAULTS.map((f) => [f.name, f.summary, f.invariant]),
  );
});

test('every fault names an invariant of the registry; names and ids are unique', () => {
  const names = INVARIANTS.map((i) => i.name as string);
  for (const f of FAULTS) assert.ok(names.includes(f.invariant), `${f.name}: ${f.invariant}`);
  assert.equal(new Set(FAULTS.map((f) => f.name)).size, FAULTS.length, 'names are unique');
  assert.equal(new Set(FAULTS.map((f) => f.id)).size, FAULTS.length, 'ids are unique');
});

test('a fault exists on the kernels that have the code it breaks: the purge faults on those with a release purge, the others on all', () => {
  for (const f of FAULTS) assert.equal(fault_kernels(f), f.name === 'purge-no-owner-check' ? FIXED : VERSIONS, f.name);
});

test('every fault can be injected by its name, and the kernel reports the name back; the correct kernel reports none', () => {
  for (const f of FAULTS) {
    const kernel = Kernel.create({ cpus: 1, version: f.kernel ?? '6.18', inject: f.name });
    assert.is(kernel.fault, f.name);
  }
  assert.is(Kernel.create({ cpus: 1 }).fault, null);
});

test('leak-4.7 is a kernel 4.7 fault: on any other version Kernel.create refuses it, naming the version', () => {
  assert.is(Kernel.create({ cpus: 1, version: '4.7', inject: 'leak-4.7' }).fault, 'leak-4.7');
  for (const v of VERSIONS.filter((x) => x !== '4.7')) {
    assert.throws(
      () => Kernel.create({ cpus: 1, version: v, inject: 'leak-4.7' }),
      (e: Error) => e.message.includes("'leak-4.7' is kernel 4.7"),
    );
  }
  for (const f of FAULTS.filter((x) => !x.kernel)) for (const v of VERSIONS) assert.is(Kernel.create({ cpus: 1, version: v, inject: f.name }).fault, f.name);
});

test('an unknown fault name is refused with the list of names', () => {
  assert.throws(
    () => Kernel.create({ cpus: 1, inject: 'nope' }),
    (e: Error) => FAULTS.every((f) => e.message.includes(`'${f.name}'`)),
  );
});

// ---------------------------------------------------------------------------------------
// free-without-gp

for (const v of VERSIONS) {
  test(`${v}: with free-without-gp, a delete frees the entry and drops its perf file reference at once, before any grace period`, () => {
    for (const inject of [undefined, 'free-without-gp']) {
      const { kernel, app, m, open } = world(v, inject);
      const e = open();
      app.bpf.mapUpdateElem(m, 0, e.fd);
      assert.is(event(kernel, e.id).fileRefs, 2);
      app.bpf.mapDeleteElem(m, 0);
      const s = kernel.inspect();
      const got = [event(kernel, e.id).fileRefs, s.entriesPendingFree, s.rcu.pending.length];
      if (inject) assert.equal(got, [1, 0, 0], 'freed at once, nothing left for a grace period');
      // the correct kernel: 4.8+ keeps the entry and its reference until a grace period; 4.7
      // drops the reference at once but recycles the entry record only after one
      else assert.equal(got, FIXED.includes(v) ? [2, 1, 1] : [1, 1, 1], 'correct kernel');
      kernel.rcuBarrier();
      assert.equal([event(kernel, e.id).fileRefs, kernel.inspect().entriesPendingFree], [1, 0]);
      assert.equal(kernel.violations(), []);
    }
  });
}

// ---------------------------------------------------------------------------------------
// double-drop

for (const v of VERSIONS) {
  test(`${v}: with double-drop, the entry's RCU callback drops its perf file twice: the event dies under an open fd`, () => {
    const { kernel, app, m, open } = world(v, 'double-drop');
    const e = open();
    app.bpf.mapUpdateElem(m, 0, e.fd);
    app.bpf.mapDeleteElem(m, 0);
    assert.equal([event(kernel, e.id).fileRefs, kernel.inspect().entriesPendingFree], [2, 1], 'the put waits for a grace period');
    kernel.rcuBarrier();
    assert.equal([event(kernel, e.id).alive, event(kernel, e.id).fileRefs], [false, 0], 'both references gone, the fd still open');
    assert.is(kernel.inspect().entriesPendingFree, 0);
    assert.ok(
      app.fds().some((x) => x.fd === e.fd),
      'the app still holds its fd',
    );
  });
}

// ---------------------------------------------------------------------------------------
// replace-leak and update-load-store: the two broken updates

for (const v of VERSIONS) {
  for (const inject of ['replace-leak', 'update-load-store']) {
    test(`${v}: with ${inject}, an update that fails still fails with the kernel's errno and leaves the slots alone`, () => {
      const { kernel, app, m, open } = world(v, inject);
      const e = open();
      throwsCode(() => app.bpf.mapUpdateElem(m, 4, e.fd), 'E2BIG');
      throwsCode(() => app.bpf.mapUpdateElem(m, 0, 1), 'EBADF');
      assert.equal(slots(kernel), [null, null, null, null]);
      assert.is(event(kernel, e.id).fileRefs, 1);
    });

    test(`${v}: with ${inject}, an update of an empty slot publishes the new entry, as the correct kernel does`, () => {
      const { kernel, app, m, open } = world(v, inject);
      const a = open();
      const b = open();
      app.bpf.mapUpdateElem(m, 0, a.fd);
      app.bpf.mapUpdateElem(m, 2, b.fd);
      const owner = app.fileOf(m);
      assert.equal(slots(kernel), [{ event: a.id, owner }, null, { event: b.id, owner }, null]);
      assert.equal([event(kernel, a.id).fileRefs, event(kernel, b.id).fileRefs], [2, 2]);
      assert.equal(kernel.violations(), []);
    });
  }

  test(`${v}: with replace-leak, replacing a slot's entry never puts the old one: its perf file stays referenced after a grace period`, () => {
    for (const inject of [undefined, 'replace-leak']) {
      const { kernel, app, m, open } = world(v, inject);
      const a = open();
      const b = open();
      app.bpf.mapUpdateElem(m, 0, a.fd);
      app.bpf.mapUpdateElem(m, 0, b.fd);
      kernel.rcuBarrier();
      assert.equal(slots(kernel)[0], { event: b.id, owner: app.fileOf(m) });
      assert.is(event(kernel, a.id).fileRefs, inject ? 2 : 1, inject ?? 'correct kernel');
      app.close(a.fd);
      kernel.rcuBarrier();
      assert.equal([event(kernel, a.id).alive, event(kernel, a.id).fileRefs], inject ? [true, 1] : [false, 0], 'the leaked entry keeps the event');
    }
  });

  test(`${v}: with update-load-store and no racing update, a replace still puts the old entry after a grace period`, () => {
    const { kernel, app, m, open } = world(v, 'update-load-store');
    const a = open();
    const b = open();
    app.bpf.mapUpdateElem(m, 1, a.fd);
    app.bpf.mapUpdateElem(m, 1, b.fd);
    kernel.rcuBarrier();
    assert.equal(slots(kernel)[1], { event: b.id, owner: app.fileOf(m) });
    assert.equal([event(kernel, a.id).fileRefs, event(kernel, b.id).fileRefs], [1, 2]);
    assert.is(kernel.inspect().entriesPendingFree, 0);
    assert.equal(kernel.violations(), []);
  });
}

// ---------------------------------------------------------------------------------------
// purge-no-owner-check

/** app's file of the map fills slot 0; a second file (objGet of its pin) fills slot 1 and closes */
function twoOwners(v: KernelVersion, inject?: string) {
  const { kernel, app, m, open } = world(v, inject);
  app.bpf.objPin(m, '/sys/fs/bpf/events');
  const other: Process = kernel.process('other');
  const m2 = other.bpf.objGet('/sys/fs/bpf/events');
  const mine = open();
  const fd = other.perfEventOpen({ cpu: 1, mmap: false });
  const theirs = { fd, id: eventIdOf(kernel, other, fd) };
  app.bpf.mapUpdateElem(m, 0, mine.fd);
  other.bpf.mapUpdateElem(m2, 1, theirs.fd);
  return { kernel, app, m, other, m2, mine, theirs };
}

for (const v of FIXED) {
  test(`${v}: with purge-no-owner-check, a map file's release purges every entry, not only its own`, () => {
    for (const inject of [undefined, 'purge-no-owner-check']) {
      const { kernel, app, m, other, m2, mine, theirs } = twoOwners(v, inject);
      other.close(m2);
      const left = inject ? [null, null, null, null] : [{ event: mine.id, owner: app.fileOf(m) }, null, null, null];
      assert.equal(slots(kernel), left, inject ?? 'correct kernel');
      kernel.rcuBarrier();
      assert.is(event(kernel, theirs.id).fileRefs, 1, 'the purged entry is put after a grace period');
      assert.equal(kernel.violations(), []);
    }
  });

  test(`${v}: with purge-no-owner-check, the purge hooks see every loaded slot, with the map's id and the entry it removes`, () => {
    const { kernel, other, m2 } = twoOwners(v, 'purge-no-owner-check');
    const id = kernel.inspect().maps[0]!.id;
    const loaded: { map: number; index: number; entry: number }[] = [];
    const removed: number[] = [];
    kernel.hooks = { purgeLoaded: (i) => void loaded.push(i), purged: (i) => void removed.push(i.removed) };
    other.close(m2);
    kernel.hooks = {};
    assert.equal(
      loaded.map((i) => [i.map, i.index]),
      [
        [id, 0],
        [id, 1],
      ],
    );
    assert.equal(
      loaded.map((i) => i.entry),
      removed,
    );
  });
}

for (const v of FIXED) {
  test(`${v}: every other fault leaves the release purge alone: it removes only the releasing file's entries`, () => {
    for (const f of FAULTS.filter((x) => !x.kernel && x.name !== 'purge-no-owner-check')) {
      const { kernel, app, m, other, m2, mine } = twoOwners(v, f.name);
      other.close(m2);
      assert.equal(slots(kernel), [{ event: mine.id, owner: app.fileOf(m) }, null, null, null], f.name);
    }
  });
}

test('4.7: purge-no-owner-check changes nothing, since 4.7 has no release purge to break', () => {
  const { kernel, app, m, other, m2, mine, theirs } = twoOwners('4.7', 'purge-no-owner-check');
  const before = [{ event: mine.id, owner: app.fileOf(m) }, { event: theirs.id, owner: other.fileOf(m2) }, null, null];
  assert.equal(slots(kernel), before);
  other.close(m2);
  kernel.rcuBarrier();
  assert.equal(slots(kernel), before);
});

// ---------------------------------------------------------------------------------------
// reader-early-tail and producer-early-head: the windows, with the faultWindow hook as the
// other side in this thread

const samples = (r: RingRecord[]): number[] => r.map((x) => (x.type === 'sample' ? x.data[0]! : -1));

/** an app with one 1-page ring (4096 bytes) on CPU 0, in slot 0 of a map a program uses */
function ringWorld(v: KernelVersion, inject: string, Arena?: typeof ScheduledArena) {
  const kernel = Kernel.create({ cpus: 1, version: v, inject, limits }, Arena);
  const app = kernel.process('app');
  const m = perfArray(app, 1);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
  app.bpf.mapUpdateElem(m, 0, fd);
  // a 20-byte payload makes a 32-byte record; its first byte tells the records apart
  const out = (n: number, len = 20): number => kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(len, n & 0xff));
  return { kernel, app, fd, out };
}

for (const v of VERSIONS) {
  test(`${v}: with reader-early-tail, a producer that runs in the window writes over a record before the reader copies it`, () => {
    const { kernel, app, fd, out } = ringWorld(v, 'reader-early-tail');
    out(1);
    out(2);
    kernel.hooks = { faultWindow: () => true }; // no producer in this window
    assert.equal(samples(app.readRing(fd)), [1, 2], 'tail moves to 64');
    out(3);
    out(4);
    let n = 100;
    const calls: string[] = [];
    kernel.hooks = {
      faultWindow: ({ fault }) => {
        calls.push(fault);
        assert.is(out(n++), 0);
      },
    };
    const got = samples(app.readRing(fd));
    kernel.hooks = {};
    // tail 64 was released at once; the window closed when data_head passed 64 + 4096 + 8:
    // 127 records of 32 bytes after the two unread ones, the last at 64 + 4096 over record 3
    assert.is(calls.length, 127);
    assert.ok(calls.every((c) => c === 'reader-early-tail'));
    assert.equal(got, [(100 + 126) & 0xff, 4], 'record 3 was overwritten by the last record written in the window');
  });

  test(`${v}: with reader-early-tail, a read of an empty ring does not wait`, () => {
    const { kernel, app, fd, out } = ringWorld(v, 'reader-early-tail');
    out(1);
    let calls = 0;
    kernel.hooks = { faultWindow: () => ++calls > 0 };
    assert.equal(samples(app.readRing(fd)), [1]);
    assert.is(calls, 1, 'a read of a record waits (the hook ends the wait)');
    assert.equal(app.readRing(fd), []);
    kernel.hooks = {};
    assert.is(calls, 1, 'the empty read did not call it');
  });

  test(`${v}: with producer-early-head, a reader in the window finds data_head past a record not yet written`, () => {
    const { kernel, app, fd, out } = ringWorld(v, 'producer-early-head');
    const calls: string[] = [];
    kernel.hooks = {
      faultWindow: ({ fault }) => {
        calls.push(fault);
        assert.equal(app.ringState(fd)!.head, 32, 'published before the record is written');
        assert.throws(
          () => app.readRing(fd),
          (e: unknown) => e instanceof CorruptRingError,
          'the zeros of a fresh ring read as corrupt',
        );
        return true; // the reader gave up: end the wait
      },
    };
    out(1);
    kernel.hooks = {};
    assert.equal(calls, ['producer-early-head']);
    assert.equal(samples(app.readRing(fd)), [1], 'written after the window');
  });

  test(`${v}: with producer-early-head, the windows of one read-side section share one bound, so a grace period is not held for seconds`, () => {
    const { kernel, out } = ringWorld(v, 'producer-early-head');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    let passes = 0;
    // no reader ever comes: each pass sleeps 20 ms, and only the bound ends a window
    kernel.hooks = {
      faultWindow: () => {
        passes++;
        Atomics.wait(nap, 0, 0, 20);
        return false;
      },
    };
    const perOutput: number[] = [];
    const count = (n: number): void => {
      passes = 0;
      assert.is(out(n), 0);
      perOutput.push(passes);
    };
    rcu_read_lock(kernel.k, 0); // one section over several outputs, as the CPU loop holds one
    for (const n of [1, 2, 3]) count(n);
    rcu_read_unlock(kernel.k, 0);
    count(4); // kernel.cpu(0) runs it in a section of its own: a new bound
    kernel.hooks = {};
    assert.ok(perOutput[0]! >= 5, `the first window waited out its bound (${perOutput[0]} passes)`);
    assert.equal(perOutput.slice(1, 3), [0, 0], 'the same section: no time left for another window');
    assert.ok(perOutput[3]! >= 5, `a new section, a new window (${perOutput[3]} passes)`);
  });

  test(`${v}: with producer-early-head, a reader that runs in the window copies the stale bytes of the record's place`, () => {
    const { kernel, app, fd, out } = ringWorld(v, 'producer-early-head');
    // records of 2048 bytes (a 2036-byte payload): two fill the 4096-byte ring, so the third
    // goes where the first one's bytes still lie
    const big = (n: number): number => out(n, 2036);
    kernel.hooks = { faultWindow: () => true }; // no reader in the first two windows
    for (const n of [1, 2]) {
      assert.is(big(n), 0);
      assert.equal(samples(app.readRing(fd)), [n]);
    }
    const seen: number[][] = [];
    kernel.hooks = { faultWindow: () => void seen.push(samples(app.readRing(fd))) };
    assert.is(big(3), 0);
    kernel.hooks = {};
    assert.equal(seen, [[1]], "one pass: the reader got record 1's stale bytes, not record 3, and consumed past it");
    assert.equal(app.readRing(fd), [], 'record 3 itself counts as read');
  });

  test(`${v}: the explorer's arena does not wait in the ring faults' windows (its scheduler opens them)`, () => {
    for (const inject of ['reader-early-tail', 'producer-early-head']) {
      const { kernel, app, fd, out } = ringWorld(v, inject, ScheduledArena);
      let calls = 0;
      kernel.hooks = { faultWindow: () => void calls++ };
      out(1);
      out(2);
      assert.equal(samples(app.readRing(fd)), [1, 2], inject);
      kernel.hooks = {};
      assert.is(calls, 0, inject);
    }
  });
}

test.run();
