// Who may talk to a server: loopback callers freely, anyone else only with the
// token. Shared by the store server and (when it listens beyond loopback) the
// LLM proxy.

import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/** Refuses to expose a server beyond loopback without a token; returns the token check to install. */
export function assertBindAllowed(host: string, token: string | undefined, what: string): void {
  if (token !== undefined && token.length < 8) throw new Error(`${what}: --token must be at least 8 characters`);
  if (!isLoopbackHost(host) && !token) {
    throw new Error(
      `${what}: listening on ${host} makes it reachable from other machines; pass a token (--token or ARCLIGHT_TOKEN), or bind 127.0.0.1`,
    );
  }
}

/**
 * Constant-time check of an `authorization: Bearer <token>` header. Both sides
 * are hashed first so the comparison takes the same time whatever the length
 * of the guess.
 */
export function bearerMatches(expected: string, header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  const given = m ? m[1].trim() : "";
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}
