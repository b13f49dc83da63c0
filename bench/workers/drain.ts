/** A drain phase of the consumer bench (bench/drain.ts) in a fresh isolate; posts its rounds and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { drainPhase, type SecondReader } from '../drain.js';

const { size, rounds, zeroCopy, second } = workerData as { size: number; rounds: number; zeroCopy: boolean; second: SecondReader };
parentPort!.postMessage(drainPhase(size, rounds, zeroCopy, second));
