// Where this package lives, found from this file (src or dist), never from
// the notebook's working directory.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "arclight") return (cached = dir);
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`arclight: no package.json named "arclight" above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The built library entry that cells get as `agl`. */
export function libraryEntry(): string {
  return join(packageRoot(), "dist", "src", "index.js");
}

/** The built kernel entry a kernelspec starts. */
export function kernelEntry(): string {
  return join(packageRoot(), "dist", "kernel", "main.js");
}
