/**
 * Process.poll over several perf fds sleeps on one eventpoll word that every ring's wakeup
 * bumps, so a wakeup of any ring, not only the first, ends the wait.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { POLLIN } from '../src/index.js';
import { mk, payload } from './fixtures/scenario.js';
import { assertNoWorkers } from './fixtures/workers.js';

// (kernel_wait has the same poller seen asleep before the output: there only a notify ends it)
test('a poll blocked on two rings wakes for an output to the second, and reports that fd', async () => {
  const kernel = mk('6.18', 2);
  const timeoutMs = 20_000; // a bound, not a speed: the wakeup must end the wait long before
  const w = new Worker(new URL('./fixtures/poll_worker.js', import.meta.url), { workerData: { sab: kernel.sab, path: '/sys/fs/bpf/poll', timeoutMs } });
  const exited = once(w, 'exit'); // listened for from the start: the worker may end before we get there
  try {
    const [{ fds }] = (await once(w, 'message')) as [{ fds: number[] }];
    const p = kernel.process('producer');
    const prog = p.bpf.progLoad({ maps: [p.bpf.objGet('/sys/fs/bpf/poll')] });
    const t0 = Date.now();
    assert.is(kernel.cpu(1).perfEventOutput(prog, 0, 1, payload(8)), 0);
    const [{ ready }] = (await once(w, 'message')) as [{ ready: { fd: number; revents: number }[] }];
    assert.equal(ready, [{ fd: fds[1]!, revents: POLLIN }]);
    assert.ok(Date.now() - t0 < timeoutMs, 'the wait ended by the wakeup, not by its bound');
    await exited;
    p.exit();
  } finally {
    await w.terminate();
  }
  assertNoWorkers();
});

test('poll with a timeout over rings with nothing new returns none after the bound; poll([], t) sleeps', () => {
  const kernel = mk('6.18', 2);
  const app = kernel.process('app');
  const fds = [0, 1].map((cpu) => app.perfEventOpen({ cpu, pages: 1 }));
  assert.equal(app.poll(fds, 20), []);
  assert.equal(app.poll([], 1), []);
  const snap = kernel.inspect();
  assert.is(snap.perfEvents.length, 2);
  app.exit();
});

test.run();
