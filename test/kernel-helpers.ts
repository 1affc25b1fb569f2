// Shared by the kernel tests: the built kernel must exist, Jupyter must be installed.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installKernelspec } from "../kernel/kernelspec.js";
import { kernelEntry } from "../kernel/package-root.js";
import { assertJupyterInstalled } from "../kernel/jupyter-server.js";

export function requireKernelPrereqs(): void {
  assertJupyterInstalled();
  if (!existsSync(kernelEntry())) throw new Error(`${kernelEntry()} is missing: run \`npm run build\` (npm ci runs it)`);
}

/** Installs the kernelspec under a fresh prefix; returns the JUPYTER_PATH that finds it. */
export function tempKernelspec(): string {
  const prefix = mkdtempSync(join(tmpdir(), "arclight-kspec-"));
  installKernelspec({ prefix });
  return join(prefix, "share", "jupyter");
}
