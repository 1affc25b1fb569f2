import { activeScope } from "./scope.js";
import { devScope } from "./dev.js";

/** Waits until every span emitted so far (in the current rollout, or the dev store) is acknowledged by the store. */
export async function flushTraces(): Promise<void> {
  await activeScope()?.flush();
  await devScope().flush();
}
