// The seam between the library and a running kernel: the kernel registers an
// object under a global symbol, so nothing in src/ imports kernel/ and a
// library loaded twice (tsx and dist) still finds the same kernel.
import type { MimeBundle } from "./protocol.js";

export const KERNEL_HOOK = Symbol.for("arclight.kernel");

export interface KernelDisplayRequest {
  bundle: MimeBundle;
  metadata?: Record<string, unknown>;
  /** Jupyter display_id: a later update with the same id replaces the output in place. */
  displayId?: string;
  /** true: update_display_data for displayId instead of a new display_data. */
  update?: boolean;
}

export interface KernelHook {
  display(req: KernelDisplayRequest): void;
  clearOutput(wait: boolean): void;
}

export function kernelHook(): KernelHook | undefined {
  const hook = (globalThis as Record<symbol, unknown>)[KERNEL_HOOK];
  if (typeof hook !== "object" || hook === null) return undefined;
  const h = hook as Partial<KernelHook>;
  return typeof h.display === "function" && typeof h.clearOutput === "function" ? (hook as KernelHook) : undefined;
}

/** Called by the kernel at start; returns a function that removes the hook. */
export function setKernelHook(hook: KernelHook): () => void {
  const g = globalThis as Record<symbol, unknown>;
  g[KERNEL_HOOK] = hook;
  return () => {
    if (g[KERNEL_HOOK] === hook) delete g[KERNEL_HOOK];
  };
}

// Values shown with a display id in the running cell (a progress bar): they are on screen already and
// update in place, so the kernel does not show them again when a cell ends with one (`bar.done();`).
// Kept on a global symbol for the same reason as the hook.
const LIVE = Symbol.for("arclight.kernel.live-displays");
interface LiveDisplays {
  cell: number;
  shown: WeakMap<object, number>;
}
function live(): LiveDisplays {
  const g = globalThis as Record<symbol, unknown>;
  return (g[LIVE] ??= { cell: 0, shown: new WeakMap() }) as LiveDisplays;
}

/** Called by the kernel as each cell starts. */
export function beginCell(): void {
  live().cell += 1;
}

export function markShownLive(value: unknown): void {
  if (typeof value === "object" && value !== null) live().shown.set(value, live().cell);
}

/** Whether `value` was displayed with a display id during the current cell. */
export function shownLiveThisCell(value: unknown): boolean {
  return typeof value === "object" && value !== null && live().shown.get(value) === live().cell;
}
