/** A drain phase of the consumer bench (bench/drain.ts) in a fresh isolate; posts its rounds and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { drainPhase } from '../drain.js';

const { size, rounds, zeroCopy, readers } = workerData as { size: number; rounds: number; zeroCopy: boolean; readers: number };
parentPort!.postMessage(drainPhase(size, rounds, zeroCopy, readers));
