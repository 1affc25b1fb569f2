// A test double for a hosted OpenAI-compatible API (this machine cannot reach
// one): a loopback HTTP server answering chat completions, streamed or not,
// with vLLM-style token ids and logprobs so the tracer's recording is tested.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeOpenAI {
  baseURL: string;
  requests: unknown[];
  close(): Promise<void>;
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const json = JSON.parse(body || "{}") as { stream?: boolean; model?: string; messages?: { content: string }[] };
      requests.push(json);
      if (req.url?.includes("boom")) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "upstream exploded", type: "server_error" } }));
        return;
      }
      const text = `echo:${json.messages?.at(-1)?.content ?? ""}`;
      const ids = [...text].map((c) => c.charCodeAt(0));
      if (json.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (let i = 0; i < text.length; i++) {
          const chunk = {
            id: "cmpl-s",
            object: "chat.completion.chunk",
            model: json.model,
            choices: [
              {
                index: 0,
                delta: { content: text[i] },
                token_ids: [ids[i]],
                logprobs: { content: [{ token: text[i], logprob: -0.1 * i, bytes: null, top_logprobs: [] }] },
                finish_reason: i === text.length - 1 ? "stop" : null,
              },
            ],
          };
          res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        }
        res.write(
          `data: ${JSON.stringify({ id: "cmpl-s", object: "chat.completion.chunk", model: json.model, choices: [], usage: { prompt_tokens: 3, completion_tokens: text.length, total_tokens: 3 + text.length } })}\n\n`,
        );
        res.end("data: [DONE]\n\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "cmpl-1",
          object: "chat.completion",
          created: 0,
          model: json.model,
          prompt_token_ids: [1, 2, 3],
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: text },
              finish_reason: "stop",
              token_ids: ids,
              logprobs: { content: ids.map((_, i) => ({ token: "x", logprob: -0.5 - i, bytes: null, top_logprobs: [] })) },
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: ids.length, total_tokens: 3 + ids.length },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
