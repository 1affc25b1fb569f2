// The connection file Jupyter hands a kernel: ports, transport, key.
import { readFileSync } from "node:fs";
import { ValidationError } from "../src/types/errors.js";

export interface ConnectionInfo {
  transport: string;
  ip: string;
  key: string;
  signature_scheme: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
}

export function readConnectionFile(path: string): ConnectionInfo {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  const issues: string[] = [];
  for (const k of ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]) {
    if (typeof raw[k] !== "number") issues.push(`${k} must be a number`);
  }
  if (typeof raw.ip !== "string") issues.push("ip must be a string");
  const scheme = (raw.signature_scheme as string | undefined) ?? "hmac-sha256";
  if (scheme !== "hmac-sha256") issues.push(`unsupported signature_scheme ${scheme}`);
  if (issues.length) throw new ValidationError(`connection file ${path}`, issues);
  return {
    transport: (raw.transport as string | undefined) ?? "tcp",
    ip: raw.ip as string,
    key: (raw.key as string | undefined) ?? "",
    signature_scheme: scheme,
    shell_port: raw.shell_port as number,
    iopub_port: raw.iopub_port as number,
    stdin_port: raw.stdin_port as number,
    control_port: raw.control_port as number,
    hb_port: raw.hb_port as number,
  };
}
