/**
 * Runs one measurement in a fresh worker (a V8 isolate of its own) and returns what it posts.
 * Why: the JIT's feedback is per process, and what ran earlier in the bench's process (other
 * kernels, other readers) makes the call sites of a measured path polymorphic. A user runs one
 * kernel per process; the drain and purge phases are measured as such.
 */
import { Worker } from 'node:worker_threads';

/** the worker `script` (a URL under bench/workers), given `data`; it has exited when this resolves */
export async function inIsolate<T>(script: URL, data: unknown, what: string, timeoutMs: number): Promise<T> {
  const worker = new Worker(script, { workerData: data });
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} took over ${timeoutMs} ms`)), timeoutMs);
      worker.once('message', (m: T) => {
        clearTimeout(timer);
        resolve(m);
      });
      worker.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${what}: its worker exited (code ${code}) without its result`));
      });
    });
  } finally {
    await worker.terminate();
  }
}
