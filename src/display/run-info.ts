// What reproduces a run: seeds recorded by whoever draws random numbers,
// plus versions and the date. Headless reports print it.
import { readFileSync } from "node:fs";
import { ValidationError } from "../types/errors.js";

const SEEDS = Symbol.for("arclight.run-info.seeds");

function seedMap(): Map<string, number | string> {
  const g = globalThis as Record<symbol, unknown>;
  if (!(g[SEEDS] instanceof Map)) g[SEEDS] = new Map<string, number | string>();
  return g[SEEDS] as Map<string, number | string>;
}

/** Records the seed a component used, under a name such as "sampler" or "dataset.shuffle". */
export function recordSeed(name: string, seed: number | bigint | string): void {
  if (typeof name !== "string" || name.length === 0) throw new ValidationError("recordSeed", ["name must be a non-empty string"]);
  if (typeof seed === "number" && !Number.isFinite(seed)) throw new ValidationError("recordSeed", ["seed must be finite"]);
  if (typeof seed !== "number" && typeof seed !== "bigint" && typeof seed !== "string") {
    throw new ValidationError("recordSeed", ["seed must be a number, bigint or string"]);
  }
  seedMap().set(name, typeof seed === "bigint" ? seed.toString() : seed);
}

export function recordedSeeds(): Record<string, number | string> {
  return Object.fromEntries(seedMap());
}

export function clearSeeds(): void {
  seedMap().clear();
}

export interface RunInfo {
  arclightVersion: string;
  nodeVersion: string;
  seeds: Record<string, number | string>;
  date: string;
}

let version: string | undefined;
export function arclightVersion(): string {
  if (version === undefined) {
    // src/display sits two folders below the package root, dist/src/display three.
    for (const rel of ["../../package.json", "../../../package.json"]) {
      try {
        const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
        if (pkg.name === "arclight" && typeof pkg.version === "string") {
          version = pkg.version;
          break;
        }
      } catch {
        // try the next candidate
      }
    }
    version ??= "unknown";
  }
  return version;
}

export function runInfo(): RunInfo {
  return { arclightVersion: arclightVersion(), nodeVersion: process.version, seeds: recordedSeeds(), date: new Date().toISOString() };
}
