// Versioned resources (prompts, model endpoints, weights): every version of
// every id, oldest first, and which id is the latest, as Agent Lightning's
// resources API has them.

import type { NamedResources, ResourcesUpdate } from "../types/index.js";
import { copy } from "./entries.js";

export class ResourceVersions {
  private versions: ResourcesUpdate[] = [];
  private readonly latestById = new Map<string, ResourcesUpdate>();
  /** The id most recently added or updated. */
  latestId: string | null = null;

  has(id: string): boolean {
    return this.latestById.has(id);
  }

  /** A new version of `id` (version 1 when the id is new), which becomes the latest. */
  put(id: string, resources: NamedResources, now: number): ResourcesUpdate {
    const prev = this.latestById.get(id);
    const r: ResourcesUpdate = {
      resourcesId: id,
      version: (prev?.version ?? 0) + 1,
      createTime: prev?.createTime ?? now,
      updateTime: now,
      resources: copy(resources),
    };
    this.apply(r);
    this.latestId = id;
    return r;
  }

  /** Replay: a logged version. */
  apply(r: ResourcesUpdate): void {
    this.versions.push(r);
    this.latestById.set(r.resourcesId, r);
  }

  get(id: string): ResourcesUpdate | undefined {
    return this.latestById.get(id);
  }

  latest(): ResourcesUpdate | undefined {
    return this.latestId !== null ? this.latestById.get(this.latestId) : undefined;
  }

  all(): readonly ResourcesUpdate[] {
    return this.versions;
  }

  get size(): number {
    return this.versions.length;
  }

  clear(): void {
    this.versions = [];
    this.latestById.clear();
    this.latestId = null;
  }
}
