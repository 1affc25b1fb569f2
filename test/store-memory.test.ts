import { openStore } from "../src/store/index.js";
import { storeContract } from "./store-suite.js";

storeContract("memory", (opts) => openStore(undefined, opts));
