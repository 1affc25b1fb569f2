// One HTTP request over a keep-alive connection pool. node:http rather than
// fetch: on this workload (many small JSON calls) it is several times faster
// per call, and the store client makes a lot of them.

import http from "node:http";
import https from "node:https";

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 }),
};

export interface HttpResponse {
  status: number;
  text: string;
}

export function httpRequest(
  url: URL,
  o: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
): Promise<HttpResponse> {
  const mod = url.protocol === "https:" ? https : http;
  const agent = agents[url.protocol as keyof typeof agents];
  return new Promise((resolve, reject) => {
    const headers = o.body !== undefined ? { ...o.headers, "content-length": String(Buffer.byteLength(o.body)) } : o.headers;
    const req = mod.request(url, { method: o.method, headers, agent, signal: o.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(o.body);
  });
}
