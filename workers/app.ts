/** A user-space consumer app in its own thread (the logic is src/app.ts). */
import { runApp, type AppResult, type AppTask } from '../src/app.js';

export default function app(task: AppTask): AppResult {
  return runApp(task);
}
