// Endpoints this process serves itself, by origin. The LLM proxy registers its
// origin while it listens; clients Arclight instruments (src/tracer/openai.ts)
// send requests for that origin straight to the proxy's handler, which checks,
// records and answers them exactly as it does over HTTP. Everyone else (another
// process, a plain fetch, a client with a fetch of its own) still uses HTTP.
// The table is process-wide (Symbol.for), so a proxy and an instrumentation
// from two copies of Arclight (src and dist) still find each other.

/** fetch, as a local route answers it: `undefined` when the request is not one it takes. */
export type LocalRoute = (
  url: string,
  init: { method?: string; headers?: unknown; body?: unknown; signal?: AbortSignal | null },
) => Promise<Response> | undefined;

interface Table {
  routes: Map<string, LocalRoute>;
  enabled: boolean;
}

const KEY = Symbol.for("arclight.localRoutes");
const table: Table =
  ((globalThis as Record<symbol, unknown>)[KEY] as Table | undefined) ??
  ((globalThis as Record<symbol, unknown>)[KEY] = { routes: new Map(), enabled: true } as Table);

/** Serves requests for `origin` (scheme://host:port) with `route` until the returned function is called. */
export function serveLocally(origin: string, route: LocalRoute): () => void {
  table.routes.set(origin, route);
  return () => {
    if (table.routes.get(origin) === route) table.routes.delete(origin);
  };
}

/** The local answer to a request, or `undefined` when it has to go over the network. */
export function fetchLocally(url: unknown, init: Parameters<LocalRoute>[1] | undefined): Promise<Response> | undefined {
  if (!table.enabled || table.routes.size === 0 || typeof url !== "string") return undefined;
  const host = url.indexOf("//");
  if (host < 0) return undefined;
  const end = url.indexOf("/", host + 2);
  const route = table.routes.get(end < 0 ? url : url.slice(0, end));
  return route?.(url, init ?? {});
}

/** Turns local routes off (every call goes over HTTP) or back on; returns the previous setting. For benchmarks and debugging. */
export function useLocalRoutes(on: boolean): boolean {
  const was = table.enabled;
  table.enabled = on;
  return was;
}
