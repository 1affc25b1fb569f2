// The Jupyter wire protocol (messaging spec 5.3): identities, <IDS|MSG>,
// HMAC-SHA256 signature, then header, parent header, metadata, content.
import { createHmac, randomUUID } from "node:crypto";

export const PROTOCOL_VERSION = "5.3";
const DELIM = Buffer.from("<IDS|MSG>");

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message {
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
}

export class WireError extends Error {
  override readonly name = "WireError";
}

export function sign(key: string, parts: Array<Buffer | string>): string {
  if (key === "") return "";
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

export function decode(key: string, frames: Buffer[]): Message {
  const i = frames.findIndex((f) => f.equals(DELIM));
  if (i < 0) throw new WireError("message without <IDS|MSG> delimiter");
  if (frames.length < i + 6) throw new WireError("message with too few frames");
  const signature = frames[i + 1]!.toString();
  const parts = frames.slice(i + 2, i + 6);
  const expected = sign(key, parts);
  if (expected !== signature) throw new WireError("bad message signature");
  const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString()) as Record<string, unknown>);
  return {
    identities: frames.slice(0, i),
    header: header as unknown as Header,
    parent_header: parent as Partial<Header>,
    metadata: metadata!,
    content: content!,
    buffers: frames.slice(i + 6),
  };
}

export function encode(key: string, msg: Omit<Message, "buffers"> & { buffers?: Buffer[] }): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map((p) => Buffer.from(JSON.stringify(p)));
  return [...msg.identities, DELIM, Buffer.from(sign(key, parts)), ...parts, ...(msg.buffers ?? [])];
}

/** A new message answering or caused by `parent` (same session; identities kept for shell replies). */
export function child(parent: Message | undefined, msgType: string, content: Record<string, unknown>, session: string): Message {
  return {
    identities: parent?.identities ?? [],
    header: {
      msg_id: randomUUID(),
      session: parent?.header.session ?? session,
      username: parent?.header.username ?? "arclight",
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    },
    parent_header: parent?.header ?? {},
    metadata: {},
    content,
    buffers: [],
  };
}
