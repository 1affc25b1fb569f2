export { ArithmeticTokenizer } from "./arithmetic-tokenizer.js";
export {
  additionTasks,
  scoreAnswer,
  additionAgent,
  trainArithmetic,
  ARITHMETIC_POLICY,
  type AdditionTask,
  type TrainArithmeticOptions,
  type TrainArithmeticResult,
} from "./arithmetic.js";
export { runDemo, DEMO_CONFIG } from "./demo.js";
export { renderReport, curveRows, type DemoReport } from "./report.js";
export {
  startScriptedOptimizer,
  DEFAULT_RULES as SCRIPTED_RULES,
  type ScriptedOptimizer,
  type ScriptedRule,
} from "../algorithm/apo-scripted.js";
export { ToolTaskTokenizer, CALCULATE, CALL_OPEN, CALL_CLOSE } from "./tool-agent-tokenizer.js";
export {
  calculate,
  calculatorTasks,
  calculatorAgent,
  calculatorPolicyConfig,
  scoreCalc,
  question,
  scriptedEpisode,
  warmStart,
  trainToolAgent,
  CALCULATE_TOOL,
  type CalcTask,
  type TrainToolAgentOptions,
  type WarmStartOptions,
} from "./tool-agent.js";
