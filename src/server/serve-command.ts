// `arclight store serve`: one store (a durable directory, or memory) served
// over HTTP until SIGINT / SIGTERM, then closed cleanly (WAL folded, lock freed).

import { parseArgs } from "node:util";
import { serveStore } from "./index.js";

export class ServeUsageError extends Error {}

export async function serveCommand(args: string[]): Promise<number> {
  let values: { dir?: string; host?: string; port?: string; token?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { dir: { type: "string" }, host: { type: "string" }, port: { type: "string" }, token: { type: "string" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new ServeUsageError((e as Error).message);
  }
  const port = values.port === undefined ? 4747 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ServeUsageError(`--port must be 0..65535, got ${values.port}`);
  const token = values.token ?? (process.env.ARCLIGHT_TOKEN || undefined);
  const server = await serveStore(values.dir, { host: values.host ?? "127.0.0.1", port, token });
  process.stdout.write(
    `arclight store serving ${values.dir ? `durable store ${values.dir}` : "an in-memory store"} at ${server.url}${token ? " (token required)" : ""}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
  process.stdout.write("arclight store: closed\n");
  return 0;
}
