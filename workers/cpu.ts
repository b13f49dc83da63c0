/** A simulated CPU: attach to the kernel arena and run the program until it ends or is stopped. */
import { Kernel } from '../src/emulator.js';
import { runProgram, type CpuResult, type CpuTask } from '../src/program.js';

export default async function cpu(task: CpuTask): Promise<CpuResult> {
  return runProgram(Kernel.attach(task.sab, task.memory).k, task);
}
