/**
 * Long-lived tasks on piscina, one thread each (settings verified against piscina 5):
 * minThreads = maxThreads = the task count (a task that waits on another must not queue),
 * one task per worker, atomics 'disabled' (so a worker's timers keep running between tasks).
 */
import { Piscina } from 'piscina';

export interface LongTasks<R> {
  readonly pool: Piscina;
  /** one promise per task, in task order */
  readonly runs: Promise<R>[];
}

export function startLongTasks<T, R>(worker: URL, tasks: T[], maxOldGenerationSizeMb = 256): LongTasks<R> {
  const n = Math.max(1, tasks.length);
  const pool = new Piscina({
    filename: worker.href,
    minThreads: n,
    maxThreads: n,
    concurrentTasksPerWorker: 1,
    idleTimeout: 1000,
    atomics: 'disabled',
    resourceLimits: { maxOldGenerationSizeMb },
  });
  // An unhandled 'error' (e.g. close timing out) would crash the process: we report through
  // the task promises instead.
  pool.on('error', () => undefined);
  const runs = tasks.map((t) => pool.run(t) as Promise<R>);
  for (const r of runs) r.catch(() => undefined); // observed by the owner; never unhandled
  return { pool, runs };
}

/** Settles every run within `ms`, then destroys the pool (terminating anything still running). */
export async function settleAndDestroy<R>(t: LongTasks<R>, ms: number): Promise<{ settled: PromiseSettledResult<R>[]; timedOut: number[] }> {
  const timedOut: number[] = [];
  const settled = await Promise.all(
    t.runs.map((r, i) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<PromiseSettledResult<R>>((res) => {
        timer = setTimeout(() => {
          timedOut.push(i);
          res({ status: 'rejected', reason: new Error(`did not finish within ${ms} ms; terminated`) });
        }, ms);
      });
      const done = r.then(
        (value): PromiseSettledResult<R> => ({ status: 'fulfilled', value }),
        (reason): PromiseSettledResult<R> => ({ status: 'rejected', reason }),
      );
      return Promise.race([done, timeout]).finally(() => clearTimeout(timer));
    }),
  );
  await t.pool.destroy();
  return { settled, timedOut };
}
