import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { openStore } from "../src/store/index.js";
import { storeContract } from "./store-suite.js";

const root = mkdtempSync(join(tmpdir(), "arclight-store-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

storeContract("durable", (opts) => openStore(join(root, `s${++n}`), opts));
