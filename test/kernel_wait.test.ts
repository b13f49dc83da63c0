/**
 * The wait queues of rings and epoll instances (kernel/wait.ts): a sleeper is counted while it
 * sleeps, so a wakeup notifies only when someone sleeps. In one thread: a wait really sleeps to
 * its bound when nothing comes, and leaves no sleeper counted behind (a count left at 1 would make
 * every later wakeup pay for a notify; one left at -1 would let a sleeper miss its wakeup). And
 * a test with a second thread: a poller seen asleep (counted) is woken, and one whose wakeup may
 * come before or after it sleeps.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { E_EPOLL, EP_SLEEPERS, RB_SLEEPERS } from '../src/arena/layout.js';
import { epollWordOfWake, eventWord } from '../src/arena/records.js';
import { rb_wait } from '../src/kernel/ring_buffer.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { file_obj } from '../src/kernel/file.js';
import { PerfBuffer } from '../src/index.js';
import { mk, payload, perfArray } from './fixtures/scenario.js';
import { assertNoWorkers } from './fixtures/workers.js';

function setup() {
  const kernel = mk('6.18', 2);
  const app = kernel.process('app');
  const m = perfArray(app, 2);
  const fds = [0, 1].map((cpu) => app.perfEventOpen({ cpu, pages: 1, wakeupEvents: 1 }));
  fds.forEach((fd, i) => app.bpf.mapUpdateElem(m, i, fd));
  const events = fds.map((fd) => file_obj(kernel.k, app.fileIndex(fd)));
  const rbs = events.map((e) => event_rb(kernel.k, e));
  const sleepers = (rb: number) => Atomics.load(kernel.arena.i32, rb + RB_SLEEPERS);
  return { kernel, app, m, fds, events, rbs, sleepers };
}

test('a ring wait with nothing to read sleeps to its bound and leaves no sleeper counted', () => {
  const { kernel, rbs, sleepers } = setup();
  const t0 = performance.now();
  assert.is(rb_wait(kernel.k, rbs[0]!, 30), false);
  assert.ok(performance.now() - t0 >= 29, 'it slept (a bound, not a speed)');
  assert.is(sleepers(rbs[0]!), 0);
});

test('poll and epoll_wait that time out sleep to their bound and leave no sleeper counted on the instance', () => {
  const { kernel, app, m, fds, events, rbs, sleepers } = setup();
  const ep = app.epollCreate();
  for (const fd of fds) app.epollCtlAdd(ep, fd);
  const wake = epollWake(kernel, events[0]!);
  let t0 = performance.now();
  assert.equal(app.epollWait(ep, 30), []);
  assert.ok(performance.now() - t0 >= 29, 'epoll_wait slept');
  assert.is(Atomics.load(kernel.arena.i32, epollWordOfWake(wake, EP_SLEEPERS)), 0);
  t0 = performance.now();
  assert.equal(app.poll(fds, 30), []);
  assert.ok(performance.now() - t0 >= 29, 'poll slept');
  for (const rb of rbs) assert.is(sleepers(rb), 0);
  t0 = performance.now();
  assert.equal(app.poll([], 30), []);
  assert.ok(performance.now() - t0 >= 29, 'poll of no fds sleeps its bound, as poll(2) does');
  // the queue still works: a wakeup is seen by the next wait at once
  const prog = app.bpf.progLoad({ maps: [m] });
  assert.is(kernel.cpu(1).perfEventOutput(prog, 0, 1, payload(8)), 0);
  assert.equal(app.epollWait(ep, 10_000), [{ fd: fds[1]!, revents: 1 }]);
  assert.is(Atomics.load(kernel.arena.i32, epollWordOfWake(wake, EP_SLEEPERS)), 0);
});

test('PerfBuffer.poll that times out leaves no sleeper counted; one with a record returns it', () => {
  const kernel = mk('6.18', 1);
  const app = kernel.process('app');
  const m = perfArray(app, 1);
  const got: number[] = [];
  const pb = PerfBuffer.open(app, m, { pages: 1, wakeupEvents: 1, onSample: (_cpu, data) => void got.push(data[0]!) });
  const t0 = performance.now();
  assert.is(pb.poll(30), 0);
  assert.ok(performance.now() - t0 >= 29, 'it slept');
  const wake = epollWake(kernel, file_obj(kernel.k, app.fileIndex(pb.bufferFd(0))));
  assert.is(Atomics.load(kernel.arena.i32, epollWordOfWake(wake, EP_SLEEPERS)), 0);
  const prog = app.bpf.progLoad({ maps: [m] });
  assert.is(kernel.cpu(0).perfEventOutput(prog, 0, 0, payload(8, 7)), 0);
  assert.is(pb.poll(10_000), 1);
  assert.equal(got, [7]);
  pb.close();
});

// asleep first: the poller is seen counted asleep before the output, so only a notify ends its
// wait; otherwise the output may come before or after it sleeps, and either order must work
for (const asleepFirst of [true, false])
  test(`a poll in another thread blocked on two rings wakes for an output to the second and reports that fd (${asleepFirst ? 'seen counted asleep on its epoll queue first' : 'output at any time'})`, async () => {
    const kernel = mk('6.18', 2);
    const timeoutMs = 20_000; // a bound, not a speed: only a notify ends the wait before it
    const w = new Worker(new URL('./fixtures/poll_worker.js', import.meta.url), { workerData: { sab: kernel.sab, path: '/sys/fs/bpf/wq', timeoutMs } });
    // every message and the worker's end are caught from the start, so none can be missed
    const messages: { fds?: number[]; ready?: { fd: number; revents: number }[] }[] = [];
    let failure: unknown = null;
    w.on('message', (m) => messages.push(m));
    w.on('error', (e) => (failure = e));
    const exited = once(w, 'exit');
    const until = async (what: string, done: () => boolean): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        if (failure) throw failure;
        if (Date.now() > deadline) throw new Error(`poll worker: no ${what} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    try {
      await until('fds', () => messages.length >= 1);
      const fds = messages[0]!.fds!;
      const p = kernel.process('producer');
      const prog = p.bpf.progLoad({ maps: [p.bpf.objGet('/sys/fs/bpf/wq')] });
      // the worker's poll hooks a private eventpoll to its events, then sleeps counted there
      const asleep = (): boolean => {
        let n = 0;
        kernel.arena.forEachInUse('event', (e) => {
          const wake = Atomics.load(kernel.arena.i32, eventWord(kernel.arena.L, e, E_EPOLL));
          if (wake !== 0) n = Math.max(n, Atomics.load(kernel.arena.i32, epollWordOfWake(wake, EP_SLEEPERS)));
        });
        return n === 1;
      };
      if (asleepFirst) {
        await until('sleep', asleep);
        assert.is(messages.length, 1, 'the poller did not return before the output');
      }
      const t0 = Date.now();
      assert.is(kernel.cpu(1).perfEventOutput(prog, 0, 1, payload(8)), 0);
      await until('answer', () => messages.length >= 2);
      assert.equal(messages[1]!.ready, [{ fd: fds[1]!, revents: 1 }]);
      assert.ok(Date.now() - t0 < timeoutMs, 'the wait ended by the wakeup, not by its bound');
      await exited;
      p.exit();
    } finally {
      await w.terminate();
    }
    assertNoWorkers();
  });

/** the wake word of the epoll instance watching perf event `e` (its E_EPOLL word) */
function epollWake(kernel: ReturnType<typeof mk>, e: number): number {
  const w = kernel.arena.i32[eventWord(kernel.arena.L, e, E_EPOLL)]!;
  assert.ok(w !== 0, 'an epoll instance watches the event');
  return w;
}

test.run();
