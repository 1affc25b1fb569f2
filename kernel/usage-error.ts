// A bad command line for `arclight kernel` / `arclight run`. The CLI shows it with the
// command's usage (src/cli/main.ts maps any *UsageError); kernel/ does not import the CLI,
// which sits above it.
export class KernelUsageError extends Error {
  override readonly name = "UsageError";
}
