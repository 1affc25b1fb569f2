// The scripted optimizer lives in the library (src/algorithm/apo-scripted.ts) so the offline
// notebook can start it too; tests import it from here. It stands in for a hosted LLM, which
// this machine cannot reach.
export {
  startScriptedOptimizer,
  DEFAULT_RULES,
  type ScriptedOptimizer,
  type ScriptedRule,
  type ScriptedRequest,
} from "../../src/algorithm/apo-scripted.js";
