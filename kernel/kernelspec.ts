// Registers the `arclight` kernelspec with Jupyter: node + this package's
// built kernel entry, so no global tslab is involved.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { kernelEntry } from "./package-root.js";

export const KERNEL_NAME = "arclight";
export const DISPLAY_NAME = "Arclight (TypeScript)";

export interface KernelspecLocation {
  /** Install under PREFIX/share/jupyter/kernels. */
  prefix?: string;
  /** Install in the per-user data dir (the default). */
  user?: boolean;
}

export function kernelspec(): Record<string, unknown> {
  return {
    argv: [process.execPath, kernelEntry(), "-f", "{connection_file}"],
    display_name: DISPLAY_NAME,
    language: "typescript",
    // The sockets live in a worker thread that stays responsive while a cell is busy, so an
    // interrupt_request always arrives; it raises a flag the cell's loops and awaits check.
    interrupt_mode: "message",
    env: {},
    metadata: { debugger: false },
  };
}

function userDataDir(): string {
  if (process.env.JUPYTER_DATA_DIR) return process.env.JUPYTER_DATA_DIR;
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg && xdg !== "" ? xdg : join(homedir(), ".local", "share"), "jupyter");
}

export function kernelspecDir(loc: KernelspecLocation = {}): string {
  const base = loc.prefix !== undefined ? join(loc.prefix, "share", "jupyter") : userDataDir();
  return join(base, "kernels", KERNEL_NAME);
}

/** Writes kernel.json; returns the kernelspec directory. */
export function installKernelspec(loc: KernelspecLocation = {}): string {
  if (!existsSync(kernelEntry())) {
    throw new Error(`kernel entry ${kernelEntry()} is missing: run \`npm run build\` first`);
  }
  const dir = kernelspecDir(loc);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel.json"), `${JSON.stringify(kernelspec(), null, 2)}\n`);
  return dir;
}

/** Removes the kernelspec; returns its directory, or undefined when none was installed there. */
export function uninstallKernelspec(loc: KernelspecLocation = {}): string | undefined {
  const dir = kernelspecDir(loc);
  if (!existsSync(dir)) return undefined;
  rmSync(dir, { recursive: true, force: true });
  return dir;
}
