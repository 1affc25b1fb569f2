// Small fsync helpers: a file is durable only after its data and its
// directory entry are on disk.

import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";

export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs the directory holding `path` (a file in it, or pass the directory with isDir). */
export async function fsyncDir(path: string, isDir = false): Promise<void> {
  const fh = await open(isDir ? path : dirname(path), "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes the file under a temp name, fsyncs it, renames it into place and fsyncs the directory. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(path);
}
