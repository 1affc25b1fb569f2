// The type-check worker: owns the cells' type checker (type-checker.ts) and
// answers the main thread's checks, completions and quick info in the order
// they were sent, so a completion sees every cell checked before it.
//
// A check waits while the user is waiting on quick cells: it starts once the
// running cell has been busy for LONG_CELL_MS (so a long cell gets its report
// by its end) or the kernel has been idle for QUIET_MS. On two cores, a check
// run beside a burst of quick cells ("Run all", a few ms each) slowed every
// one of them; a completion or Shift-Tab request runs the checks before it at once.
import { parentPort, workerData } from "node:worker_threads";
import type { CheckerReply, CheckerWorkerData, ToChecker } from "./thread-messages.js";
import { CellTypeChecker } from "./type-checker.js";

const port = parentPort!;
let checker: CellTypeChecker | undefined;
let failure: string | undefined;
try {
  checker = new CellTypeChecker();
} catch (e) {
  failure = `the type checker failed to start: ${e instanceof Error ? e.message : String(e)}`;
}

const LONG_CELL_MS = 50;
// Longer than a client's pauses between queued cells on a loaded machine (a check started in a 200 ms
// pause took a core for 0.2-0.5 s under the next dozen cells); a person's pause between cells is longer.
const QUIET_MS = 1000;
const data = workerData as CheckerWorkerData;
const activity = new Int32Array(data.activity);

function mayCheck(): boolean {
  const running = Atomics.load(activity, 0) === 1;
  const since = Date.now() - data.epochMs - Atomics.load(activity, 1);
  return since >= (running ? LONG_CELL_MS : QUIET_MS);
}

const queue: ToChecker[] = [];
let timer: NodeJS.Timeout | undefined;

function pump(): void {
  timer = undefined;
  while (queue.length > 0) {
    if (queue[0]!.op === "check" && !mayCheck() && queue.every((m) => m.op === "check")) {
      timer = setTimeout(pump, 10);
      return;
    }
    serve(queue.shift()!);
  }
}

port.on("message", (m: ToChecker) => {
  queue.push(m);
  if (timer) clearTimeout(timer);
  pump();
});

function serve(m: ToChecker): void {
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
}
