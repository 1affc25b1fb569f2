// The writer lock of a durable store: a file holding the writer's pid.
// Readers take no lock. A lock whose pid is dead is stale and taken over.

import { closeSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync } from "node:fs";
import { join } from "node:path";
import { StoreLockedError } from "./errors.js";
import { STORE_LAYOUT } from "./parquet-layout.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the lock or throws StoreLockedError; returns the release function. */
export function acquireWriterLock(dir: string): () => void {
  const path = join(dir, STORE_LAYOUT.lockFile);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      fsyncSync(fd);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let pid = NaN;
    try {
      pid = Number(readFileSync(path, "utf8").trim());
    } catch {
      continue; // Released between our open and read: try again.
    }
    // A half-written lock (no pid yet) from a writer that died at birth is stale too.
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new StoreLockedError(dir, pid);
    try {
      unlinkSync(path);
    } catch {
      // Someone else took it over first; the next open decides.
    }
  }
  throw new StoreLockedError(dir, NaN);
}
