// The remote store (connectStore) against a store server passes the same
// contract as the memory and durable stores.
import { openStore } from "../src/store/index.js";
import { connectStore } from "../src/store/remote-store.js";
import { startStoreServer } from "../src/server/index.js";
import { storeContract } from "./store-suite.js";

storeContract("remote", async (opts) => {
  const backing = await openStore(undefined, opts);
  const server = await startStoreServer({ store: backing, port: 0, closeStore: true });
  const client = await connectStore(server.url);
  const close = client.close.bind(client);
  // Closing the client in a test also stops its private server.
  client.close = async () => {
    await close();
    await server.close();
  };
  return client;
});
