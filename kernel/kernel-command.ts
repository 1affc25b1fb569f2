// `arclight kernel install|uninstall [--user | --prefix DIR]`.
import { parseArgs } from "node:util";
import { KernelUsageError } from "./usage-error.js";
import { installKernelspec, uninstallKernelspec, type KernelspecLocation } from "./kernelspec.js";

export async function kernelCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== "install" && action !== "uninstall")
    throw new KernelUsageError(`expected install or uninstall, got ${action ?? "nothing"}`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { user: { type: "boolean" }, prefix: { type: "string" } },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new KernelUsageError(e instanceof Error ? e.message : String(e));
  }
  const { user, prefix } = parsed.values;
  if (user && prefix !== undefined) throw new KernelUsageError("--user and --prefix exclude each other");
  if (prefix !== undefined && prefix === "") throw new KernelUsageError("--prefix needs a directory");
  const loc: KernelspecLocation = prefix !== undefined ? { prefix } : { user: true };
  if (action === "install") {
    const dir = installKernelspec(loc);
    process.stdout.write(`Installed kernelspec arclight in ${dir}\n`);
  } else {
    const dir = uninstallKernelspec(loc);
    process.stdout.write(dir ? `Removed kernelspec arclight from ${dir}\n` : "No arclight kernelspec installed there\n");
  }
  return 0;
}
