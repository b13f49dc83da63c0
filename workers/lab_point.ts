/** One point of `perfemu lab` in a pool worker: the same simulation as in the main thread. */
import { simulatePoint, type PointSpec } from '../src/lab/sim.js';

export default function labPoint(spec: PointSpec): ReturnType<typeof simulatePoint> {
  return simulatePoint(spec);
}
