/** A stress actor in its own thread (the logic is src/stress/actor_loop.ts). */
import { runActorTask, type ActorTask } from '../src/stress/actor_loop.js';
import type { ActorResult } from '../src/stress/actor.js';

export default function stressActor(task: ActorTask): ActorResult {
  return runActorTask(task);
}
