/**
 * The eventpoll (fs/eventpoll.c, reduced): an event wakes at most one instance, the one whose
 * word its E_EPOLL holds. poll(2) hangs a private instance (ep_alloc, ep_hook) only on the events
 * no epoll instance watches yet, and ep_free unhooks them; the eventfd registered in an
 * instance (epollSignal, cilium/ebpf's Flush) ends an epoll_wait at once. Driven from one
 * thread: the hooks are checked through the wake-up counts a sample leaves on each word.
 * Per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, type KernelVersion } from '../src/index.js';
import { ep_alloc, ep_free, ep_hook, epoll_wake_word } from '../src/kernel/eventpoll.js';
import { file_obj } from '../src/kernel/file.js';
import { VERSIONS, mk, payload, perfArray } from './fixtures/scenario.js';

/** a kernel, an app with an event on each of 2 CPUs in slot = CPU, and an output helper */
function world(v: KernelVersion) {
  const kernel = mk(v, 2);
  const app = kernel.process('app');
  const m = perfArray(app, 2);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fds = [0, 1].map((cpu) => {
    const fd = app.perfEventOpen({ cpu, pages: 1, wakeupEvents: 1 });
    app.bpf.mapUpdateElem(m, cpu, fd);
    return fd;
  });
  const out = (cpu: number) => kernel.cpu(cpu).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8));
  const eventOf = (fd: number) => file_obj(kernel.k, app.fileIndex(fd));
  return { kernel, app, fds, out, eventOf };
}

for (const v of VERSIONS) {
  test(`${v}: poll's private instance hooks an unwatched event (again: still true) but not one an epoll instance watches, which keeps waking that instance`, () => {
    const { kernel, app, fds, out, eventOf } = world(v);
    const k = kernel.k;
    const ep = app.epollCreate();
    app.epollCtlAdd(ep, fds[1]!);
    const epWord = epoll_wake_word(k, file_obj(k, app.fileIndex(ep)));
    const priv = ep_alloc(k);
    assert.ok(priv >= 0);
    const privWord = epoll_wake_word(k, priv);
    assert.is.not(privWord, epWord);
    const wakes = () => [kernel.arena.load(privWord), kernel.arena.load(epWord)];
    assert.is(ep_hook(k, priv, eventOf(fds[0]!)), true, 'nobody watched event 0: hooked');
    assert.is(ep_hook(k, priv, eventOf(fds[0]!)), true, 'already this instance: still hooked');
    assert.is(ep_hook(k, priv, eventOf(fds[1]!)), false, 'event 1 belongs to the epoll instance');
    const w0 = wakes();
    out(0);
    assert.equal(wakes(), [w0[0]! + 1, w0[1]!], "event 0's sample wakes the private instance");
    out(1);
    assert.equal(wakes(), [w0[0]! + 1, w0[1]! + 1], "event 1's wakes the epoll instance, not the private one");
    ep_free(k, priv);
    out(0);
    out(1);
    assert.equal(wakes(), [w0[0]! + 1, w0[1]! + 2], 'ep_free unhooked event 0 only');
    assert.is(ep_hook(k, ep_alloc(k), eventOf(fds[0]!)), true, 'event 0 is free for the next poll');
  });

  test(`${v}: two private instances: the second cannot take the event the first hooked`, () => {
    const { kernel, fds, out, eventOf } = world(v);
    const k = kernel.k;
    const [a, b] = [ep_alloc(k), ep_alloc(k)];
    assert.ok(a >= 0 && b >= 0 && a !== b);
    assert.is(ep_hook(k, a, eventOf(fds[0]!)), true);
    assert.is(ep_hook(k, b, eventOf(fds[0]!)), false);
    assert.is(ep_hook(k, b, eventOf(fds[1]!)), true);
    const wakes = () => [kernel.arena.load(epoll_wake_word(k, a)), kernel.arena.load(epoll_wake_word(k, b))];
    const w0 = wakes();
    out(0);
    out(0);
    out(1);
    assert.equal(wakes(), [w0[0]! + 2, w0[1]! + 1]);
    ep_free(k, a);
    ep_free(k, b);
  });

  test(`${v}: the registered eventfd: a signal wakes the instance once, ends epoll_wait at once with no fd ready, and is taken once`, () => {
    const { kernel, app, fds } = world(v);
    const k = kernel.k;
    const ep = app.epollCreate();
    app.epollCtlAdd(ep, fds[0]!);
    const word = epoll_wake_word(k, file_obj(k, app.fileIndex(ep)));
    let t0 = Date.now();
    assert.equal(app.epollWait(ep, 40), []);
    assert.ok(Date.now() - t0 >= 35, 'not signalled: epoll_wait sleeps its timeout');
    const w0 = kernel.arena.load(word);
    app.epollSignal(ep);
    assert.is(kernel.arena.load(word), w0 + 1, 'the signal bumps the wake word');
    t0 = Date.now();
    assert.equal(app.epollWait(ep, 2000), [], 'no perf fd is ready');
    assert.ok(Date.now() - t0 < 1000, 'signalled: epoll_wait returns at once');
    assert.equal(app.epollWait(ep, 0), [], 'the signal stays until it is taken');
    assert.is(app.epollTakeSignal(ep), true);
    assert.is(app.epollTakeSignal(ep), false, 'taken once');
    t0 = Date.now();
    assert.equal(app.epollWait(ep, 40), []);
    assert.ok(Date.now() - t0 >= 35, 'taken: epoll_wait sleeps again');
  });
}

test.run();
