import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidTransitionError } from "../src/types/index.js";
import { checkRolloutTransition, checkAttemptTransition } from "../src/types/status.js";

test("rollout transitions follow the Agent Lightning state machine", () => {
  checkRolloutTransition("ro-1", "queuing", "preparing");
  checkRolloutTransition("ro-1", "running", "requeuing");
  checkRolloutTransition("ro-1", "requeuing", "preparing");
  assert.throws(
    () => checkRolloutTransition("ro-1", "succeeded", "running"),
    (e: unknown) =>
      e instanceof InvalidTransitionError &&
      e.id === "ro-1" &&
      e.from === "succeeded" &&
      e.to === "running" &&
      /ro-1: succeeded -> running/.test(e.message),
  );
  assert.throws(() => checkRolloutTransition("ro-2", "queuing", "succeeded"), InvalidTransitionError);
});

test("attempt transitions allow an unresponsive attempt to come back but never leave a terminal state", () => {
  checkAttemptTransition("at-1", "unresponsive", "running");
  assert.throws(() => checkAttemptTransition("at-1", "timeout", "running"), InvalidTransitionError);
  assert.throws(() => checkAttemptTransition("at-1", "succeeded", "failed"), InvalidTransitionError);
});
