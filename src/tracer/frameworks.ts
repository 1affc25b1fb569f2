// Agent frameworks whose own traces Arclight records into the rollout's
// trace. Each bridge loads only when its package is installed: the Agents
// SDK's imports nothing of the SDK; LangChain's loads @langchain/core's
// callback manager (about 0.3 s, shared with an agent that uses LangChain),
// because the class it hooks must exist first. The runner calls this before its first
// rollout, so the agent's code does not change; a script that runs rollouts
// without the runner calls it once itself.
// The Vercel AI SDK needs no bridge: it traces through the OpenTelemetry API,
// and Arclight's provider is the global one during a rollout (provider.ts);
// its calls to the proxy carry traceparent (propagation.ts), so the proxy's
// record nests under its provider-call span.
import { instrumentOpenAI } from "./openai.js";
import { propagateToProxy } from "./propagation.js";

let done: Promise<string[]> | null = null;

/** Instruments the `openai` SDK, LangChain.js and the OpenAI Agents SDK where installed; resolves to the frameworks bridged. Idempotent. */
export function instrumentFrameworks(): Promise<string[]> {
  done ??= (async () => {
    const out: string[] = [];
    await instrumentOpenAI();
    propagateToProxy();
    for (const [name, load] of [
      ["langchain", async () => (await import("./langchain.js")).instrumentLangChain()],
      ["openai-agents", async () => (await import("./openai-agents.js")).instrumentOpenAIAgents()],
    ] as const) {
      try {
        await load();
        out.push(name);
      } catch (e) {
        // Not installed is the usual case; anything else is worth a line.
        if ((e as { code?: string }).code !== "ERR_MODULE_NOT_FOUND")
          console.warn(`arclight: ${name} tracing not installed: ${(e as Error).message}`);
      }
    }
    return out;
  })();
  return done;
}
