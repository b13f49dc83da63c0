/** A campaign worker: runs a batch of units (the logic is src/campaign/unit.ts). */
import { runUnits, type UnitResult, type UnitTask } from '../src/campaign/unit.js';

export default function campaignUnits(task: UnitTask): Promise<UnitResult[]> {
  return runUnits(task);
}
