// Kernel entry a kernelspec starts: `node dist/kernel/main.js -f {connection_file}`.
// The sockets come up first (kernel_info is answered at once); the compiler
// and the library load after, and requests that need them wait for them.
import { writeSync } from "node:fs";
import { readConnectionFile } from "./connection.js";
import { KernelServer } from "./server.js";

async function main(argv: string[]): Promise<void> {
  const i = argv.findIndex((a) => a === "-f" || a === "--connection-file");
  const file = i >= 0 ? argv[i + 1] : argv[0];
  if (file === undefined) {
    process.stderr.write("usage: node dist/kernel/main.js -f CONNECTION_FILE\n");
    process.exit(2);
  }
  const conn = readConnectionFile(file);
  const server = new KernelServer(conn);
  await server.started();
  await server.handshake();
  const { Executor } = await import("./executor.js");
  const executor = new Executor(process.cwd(), server.interruptFlag);
  await executor.init();
  server.attach(executor);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // Straight to fd 2: process.stderr now feeds the socket worker.
  writeSync(2, `arclight kernel failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
