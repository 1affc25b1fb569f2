// Kernel entry a kernelspec starts: `node dist/kernel/main.js -f {connection_file}`.
import { readConnectionFile } from "./connection.js";
import { Executor } from "./executor.js";
import { KernelServer } from "./server.js";

async function main(argv: string[]): Promise<void> {
  const i = argv.findIndex((a) => a === "-f" || a === "--connection-file");
  const file = i >= 0 ? argv[i + 1] : argv[0];
  if (file === undefined) {
    process.stderr.write("usage: node dist/kernel/main.js -f CONNECTION_FILE\n");
    process.exit(2);
  }
  const conn = readConnectionFile(file);
  const executor = new Executor(process.cwd());
  await executor.init();
  const server = new KernelServer(conn, executor);
  await server.start();
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`arclight kernel failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
