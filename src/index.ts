// The whole cell/script API: `import * as agl from "arclight"`.
export * from "./types/index.js";
export type * from "./store/lightning-store.js";
