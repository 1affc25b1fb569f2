// Loads the agent a runner process runs from a module path: the module's
// default export, or its `agent` export, or its only exported agent.
// TypeScript modules load without a build step through tsx's register API.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import { isAgent, type Agent } from "./agent.js";

const TS = /\.(ts|mts|cts|tsx)$/;

export async function loadAgentModule(path: string): Promise<Agent<any>> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`agent module ${path} does not exist`);
  if (TS.test(abs) && !process.execArgv.some((a) => a.includes("tsx"))) {
    let api: { register(): unknown };
    try {
      api = (await import("tsx/esm/api")) as { register(): unknown };
    } catch {
      throw new Error(`agent module ${path} is TypeScript: install tsx (npm i -D tsx) so runners can load it, or compile it to .js`);
    }
    api.register();
  }
  const mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  if (isAgent(mod.default)) return mod.default;
  if (isAgent(mod.agent)) return mod.agent;
  const agents = Object.values(mod).filter(isAgent);
  if (agents.length === 1) return agents[0];
  throw new Error(
    agents.length === 0
      ? `agent module ${path} exports no agent: export default agl.rollout(async (task, ctx) => ...)`
      : `agent module ${path} exports ${agents.length} agents; export the one to run as default or as \`agent\``,
  );
}
