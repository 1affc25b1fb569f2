// The type-check worker: owns the cells' type checker (type-checker.ts) and
// answers the main thread's checks, completions and quick info in the order
// they were sent, so a completion sees every cell checked before it.
import { parentPort } from "node:worker_threads";
import type { CheckerReply, ToChecker } from "./thread-messages.js";
import { CellTypeChecker } from "./type-checker.js";

const port = parentPort!;
let checker: CellTypeChecker | undefined;
let failure: string | undefined;
try {
  checker = new CellTypeChecker();
} catch (e) {
  failure = `the type checker failed to start: ${e instanceof Error ? e.message : String(e)}`;
}

port.on("message", (m: ToChecker) => {
  const reply: CheckerReply = { id: m.id };
  try {
    if (!checker) throw new Error(failure);
    if (m.op === "check") reply.value = checker.check(m.code);
    else if (m.op === "complete") reply.value = checker.complete(m.code, m.cursor);
    else reply.value = checker.inspect(m.code, m.cursor);
  } catch (e) {
    reply.error = e instanceof Error ? e.message : String(e);
  }
  port.postMessage(reply);
});
