/**
 * The explorer's arena: the same memory and the same kernel code, but every shared-word
 * access (the Arena methods the kernel uses) is first a scheduling point, where the scheduler
 * may run another actor's next operation before the access happens; after it, the access is
 * logged with the value seen or written. Inside the arena lock no point is offered: that
 * region is non-preemptible, as a spinlocked region is.
 */
import { Arena } from '../arena/arena.js';

export type AccessOp = 'load' | 'store' | 'xchg' | 'cmpxchg' | 'add' | 'write-bytes' | 'read-bytes';

export interface AccessObserver {
  /** before the access: may run other operations (nested) */
  before(op: AccessOp, index: number): void;
  /** after the access: `value` is what a load/xchg/cmpxchg/add returned, `arg` what was written */
  after(op: AccessOp, index: number, value: number, arg: number): void;
}

export class ScheduledArena extends Arena {
  observer: AccessObserver | null = null;
  #locked = 0;

  override load(i: number): number {
    this.#before('load', i);
    const v = super.load(i);
    this.#after('load', i, v, v);
    return v;
  }
  override loadAcquire(i: number): number {
    return this.load(i);
  }
  override storeRelease(i: number, v: number): void {
    this.store(i, v);
  }
  override store(i: number, v: number): void {
    this.#before('store', i);
    super.store(i, v);
    this.#after('store', i, v, v);
  }
  override xchg(i: number, v: number): number {
    this.#before('xchg', i);
    const old = super.xchg(i, v);
    this.#after('xchg', i, old, v);
    return old;
  }
  override cmpxchg(i: number, expected: number, replacement: number): number {
    this.#before('cmpxchg', i);
    const old = super.cmpxchg(i, expected, replacement);
    this.#after('cmpxchg', i, old, replacement);
    return old;
  }
  override add(i: number, d: number): number {
    this.#before('add', i);
    const old = super.add(i, d);
    this.#after('add', i, old, d);
    return old;
  }
  override ringWrite(rb: number, pos: number): void {
    this.#before('write-bytes', rb);
    this.#after('write-bytes', rb, pos, pos);
  }
  override ringRead(rb: number, pos: number): void {
    this.#before('read-bytes', rb);
    this.#after('read-bytes', rb, pos, pos);
  }
  override lock(): void {
    super.lock();
    this.#locked++;
  }
  override unlock(): void {
    this.#locked--;
    super.unlock();
  }

  #before(op: AccessOp, i: number): void {
    if (this.observer && this.#locked === 0) this.observer.before(op, i);
  }
  #after(op: AccessOp, i: number, v: number, arg: number): void {
    if (this.observer) this.observer.after(op, i, v, arg);
  }
}
