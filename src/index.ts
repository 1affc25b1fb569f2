// The whole cell/script API: `import * as agl from "arclight"`.
export * from "./types/index.js";
export type * from "./store/lightning-store.js";
export * from "./store/index.js";
export * from "./tracer/index.js";
export * from "./runner/index.js";
export * from "./adapter/index.js";
export * from "./algorithm/index.js";
export * from "./trainer/index.js";
export { serveStore, startStoreServer, type StoreServer, type StoreServerOptions, type Redact } from "./server/index.js";
export * from "./llm/index.js";
export * as native from "./native/index.js";
export * from "./tokenizer/index.js";
export * from "./display/index.js";
export * from "./viz/index.js";
export * from "./frame/index.js";
export * as examples from "./examples/index.js";
