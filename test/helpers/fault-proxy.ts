// An HTTP proxy in front of a store server that injects the faults a network
// has: answers 503 without forwarding, forwards but loses the answer (the
// write happened, the client never hears), or answers late.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Fault = "503" | "lose-response" | { delayMs: number };

export interface FaultProxy {
  url: string;
  /** Faults for the next requests whose path includes `match`, in order. */
  inject(match: string, ...faults: Fault[]): void;
  /** Requests seen per path (retries included). */
  seen: Map<string, number>;
  /** Called after a response was lost, before the client's retry can arrive. */
  onLost?: () => Promise<void>;
  setTarget(url: string): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  let upstream = new URL(target);
  const queue: { match: string; fault: Fault }[] = [];
  const seen = new Map<string, number>();
  const agent = new http.Agent({ keepAlive: true });
  const proxy: Partial<FaultProxy> = { seen };
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    seen.set(path, (seen.get(path) ?? 0) + 1);
    const i = queue.findIndex((q) => path.includes(q.match));
    const fault = i >= 0 ? queue.splice(i, 1)[0].fault : null;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (fault === "503") {
        res
          .writeHead(503, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { name: "ServiceUnavailable", message: "injected" } }));
        return;
      }
      const up = http.request(upstream, { method: req.method, path, headers: req.headers, agent }, (ur) => {
        const body: Buffer[] = [];
        ur.on("data", (c: Buffer) => body.push(c));
        ur.on("end", async () => {
          if (fault === "lose-response") {
            // The upstream applied the call; the client sees its connection die.
            req.socket.destroy();
            await proxy.onLost?.();
            return;
          }
          if (fault && typeof fault === "object") await new Promise((r) => setTimeout(r, fault.delayMs));
          if (res.destroyed) return;
          res.writeHead(ur.statusCode ?? 502, ur.headers).end(Buffer.concat(body));
        });
      });
      up.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    inject: (match: string, ...faults: Fault[]) => queue.push(...faults.map((fault) => ({ match, fault }))),
    setTarget: (url: string) => {
      upstream = new URL(url);
    },
    close: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  }) as FaultProxy;
}
