// The parts of tslab the kernel builds on: its TypeScript converter (type
// check, transpile to CommonJS, completion, quick info) and the TypeScript
// 5.0 it bundles. Loaded with require because tslab is CommonJS.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const tslabMain = require.resolve("tslab");
const fromTslab = createRequire(tslabMain);

export interface TsDiagnostic {
  start: { offset: number; line: number; character: number };
  end: { offset: number; line: number; character: number };
  messageText: string;
  category: number;
  code: number;
  fileName?: string;
}

export interface ConvertResult {
  output?: string;
  declOutput?: string;
  diagnostics: TsDiagnostic[];
  lastExpressionVar?: string;
  hasToplevelAwait?: boolean;
  sideOutputs?: Array<{ path: string; data: string }>;
}

export interface TslabConverter {
  convert(prevDecl: string, src: string): ConvertResult;
  inspect(prevDecl: string, src: string, position: number): unknown;
  complete(prevDecl: string, src: string, position: number): { start: number; end: number; candidates: string[] };
  /** Adds an in-memory module (a root file of the program); returns its diagnostics. */
  addModule(name: string, content: string): TsDiagnostic[];
  close(): void;
}

interface ConverterModule {
  createConverter(options?: { isJS?: boolean; isBrowser?: boolean }): TslabConverter;
  isCompleteCode(content: string): { completed: boolean; indent?: string };
}

export const converterModule = fromTslab(join(tslabMain, "..", "converter.js")) as ConverterModule;
export const printQuickInfo = (fromTslab(join(tslabMain, "..", "inspect.js")) as { printQuickInfo(info: unknown): string }).printQuickInfo;

/** tslab's TypeScript (a CommonJS singleton; its `sys` object is shared with the converter). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const tsx: any = fromTslab("@tslab/typescript-for-tslab");
