/**
 * fs/eventpoll.c, reduced to what a perf-buffer consumer needs: one word a waiter sleeps on,
 * bumped by the wakeup of any perf event it watches, so a consumer can block on many rings
 * at once (Atomics.wait takes one word). An epoll instance is a file, so exit closes it.
 */
import { E_EPOLL, EP_EVENTFD, EP_SLEEPERS, EP_STATE, EP_WAKE, FILE_KIND_EPOLL, FMODE_READ, S_LIVE } from '../arena/layout.js';
import { epollWord, epollWordOfWake, eventWord } from '../arena/records.js';
import type { Kctx } from './context.js';
import { EMFILE, ENOMEM } from './errno.js';
import { alloc_file, register_file_release } from './file.js';
import { wait_on_word, wake_up_word } from './wait.js';

/**
 * ep_alloc: an eventpoll without a file, or -ENOMEM. epoll_create wraps one in a file; poll(2)
 * uses one for the length of a call, as the kernel's poll hangs its wait entries on the files.
 */
export function ep_alloc(k: Kctx): number {
  const ep = k.a.allocRecordLocked('epoll', S_LIVE);
  if (ep < 0) return -ENOMEM;
  k.a.store(epollWord(k.a.L, ep, EP_EVENTFD), 0);
  return ep;
}

/** ep_free: unhook the events still pointing here (ep_remove of each watched file), free it */
export function ep_free(k: Kctx, ep: number): void {
  const a = k.a;
  const word = epollWord(a.L, ep, EP_WAKE);
  a.forEachInUse('event', (e) => void a.cmpxchg(eventWord(a.L, e, E_EPOLL), word, 0));
  a.freeRecord('epoll', ep);
}

/** epoll_create: the new epoll file's index, or -errno */
export function epoll_create(k: Kctx): number {
  const ep = ep_alloc(k);
  if (ep < 0) return ep;
  const f = alloc_file(k, FILE_KIND_EPOLL, ep, FMODE_READ);
  if (f < 0) {
    k.a.freeRecord('epoll', ep);
    return -EMFILE;
  }
  return f;
}

/** epoll_ctl(EPOLL_CTL_ADD) of a perf event: its ring wakeups now also wake this instance */
export function epoll_watch(k: Kctx, ep: number, event: number): void {
  k.a.store(eventWord(k.a.L, event, E_EPOLL), epollWord(k.a.L, ep, EP_WAKE));
}

/**
 * Hooks the event to this instance only if no instance watches it yet: true if it did (or it
 * already was this one). poll(2)'s private instance must not steal an epoll's event.
 */
export function ep_hook(k: Kctx, ep: number, event: number): boolean {
  const word = epollWord(k.a.L, ep, EP_WAKE);
  const was = k.a.cmpxchg(eventWord(k.a.L, event, E_EPOLL), 0, word);
  return was === 0 || was === word;
}

/** the word a waiter sleeps on */
export function epoll_wake_word(k: Kctx, ep: number): number {
  return epollWord(k.a.L, ep, EP_WAKE);
}

/** whether epoll record `ep` is allocated (an instance some file holds) */
export function epoll_live(k: Kctx, ep: number): boolean {
  return k.a.load(epollWord(k.a.L, ep, EP_STATE)) === S_LIVE;
}

/**
 * eventfd_write on the eventfd registered in this instance (how cilium/ebpf's reader implements
 * Flush): any thread may call it; it wakes the instance's waiter as a ring wakeup does.
 */
export function epoll_eventfd_signal(k: Kctx, ep: number): void {
  const a = k.a;
  a.store(epollWord(k.a.L, ep, EP_EVENTFD), 1);
  a.add(epollWord(k.a.L, ep, EP_WAKE), 1);
  wake_up_word(a, epollWord(k.a.L, ep, EP_WAKE), epollWord(k.a.L, ep, EP_SLEEPERS));
}

/**
 * A waiter of epoll_wait or poll(2): sleeps on the instance's wake word `word` while it still
 * holds `seq` (read before the waiter checked its events), for at most `timeoutMs`.
 */
export function ep_sleep(k: Kctx, word: number, seq: number, timeoutMs: number): void {
  wait_on_word(k.a, word, seq, epollWordOfWake(word, EP_SLEEPERS), timeoutMs);
}

/** the registered eventfd's read: 1 if it was signalled since the last take (and clears it) */
export function epoll_eventfd_take(k: Kctx, ep: number): number {
  return k.a.xchg(epollWord(k.a.L, ep, EP_EVENTFD), 0);
}

/** whether the registered eventfd is signalled (a waiter's readiness test; does not clear) */
export function epoll_eventfd_pending(k: Kctx, ep: number): boolean {
  return k.a.load(epollWord(k.a.L, ep, EP_EVENTFD)) !== 0;
}

register_file_release(FILE_KIND_EPOLL, ep_free);
