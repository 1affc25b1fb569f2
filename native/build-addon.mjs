// Builds build/Release/arclight.node with node-gyp (npm's bundled copy). When
// this Node's headers are installed beside it (distro packages, official
// tarballs), point node-gyp at them so no header download is needed offline.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const prefix = resolve(process.execPath, "..", "..");
const args = ["rebuild", "-j", "2"];
if (!process.env.npm_config_nodedir && existsSync(resolve(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);
// ARCLIGHT_CUDA=0 skips the nvcc library (minutes) for quick CPU-only iteration; CI builds it all.
if (process.env.ARCLIGHT_CUDA === "0") args.push("--", "-Darclight_cuda=0");
// npm sets npm_config_node_gyp; run directly (node native/build-addon.mjs), use npm's bundled copy.
const bundled = resolve(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const r =
  gyp && existsSync(gyp)
    ? spawnSync(process.execPath, [gyp, ...args], { stdio: "inherit" })
    : spawnSync("node-gyp", args, { stdio: "inherit", shell: true });
if (r.error) console.error(`arclight: could not run node-gyp: ${r.error.message}`);
process.exit(r.status ?? 1);
