// Public face of the store server: serveStore() for the CLI and notebooks,
// startStoreServer() to put an existing store behind HTTP.
import { openStore, type StoreOptions } from "../store/index.js";
import { startStoreServer, type StoreServer, type StoreServerOptions } from "./store-server.js";

export { startStoreServer, buildStoreApp, type StoreServer, type StoreServerOptions } from "./store-server.js";
export type { Redact } from "./handlers.js";
export { OTLP_TRACES_PATH, attemptTracesPath } from "./otlp-route.js";

/** Opens the store (durable in `dir`, else in memory) and serves it; close() closes both. */
export async function serveStore(
  dir: string | undefined,
  opts: Omit<StoreServerOptions, "store" | "closeStore"> & { storeOptions?: StoreOptions } = {},
): Promise<StoreServer & { store: Awaited<ReturnType<typeof openStore>> }> {
  const { storeOptions, ...serverOpts } = opts;
  const store = await openStore(dir, storeOptions);
  try {
    const server = await startStoreServer({ ...serverOpts, store, closeStore: true });
    return Object.assign(server, { store });
  } catch (e) {
    await store.close();
    throw e;
  }
}
