// The `arclight` command's subcommand table. Each entry loads its code only
// when run, so `arclight --help` stays fast and a broken optional part does
// not take the whole CLI down.

export interface Command {
  /** One line for the help listing. */
  summary: string;
  /** Usage lines shown by `arclight help NAME`. */
  usage: string;
  run(args: string[]): Promise<number>;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

const commands = new Map<string, Command>();

/** Adds a subcommand; later helpers register theirs (e.g. `demo`) in src/cli/main.ts. */
export function registerCommand(name: string, command: Command): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`bad command name ${JSON.stringify(name)}`);
  commands.set(name, command);
}

export function listCommands(): Array<[string, Command]> {
  return [...commands.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export function helpText(): string {
  const width = Math.max(...listCommands().map(([n]) => n.length), 4);
  return [
    "usage: arclight <command> [options]",
    "",
    "commands:",
    ...listCommands().map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    `  ${"help".padEnd(width)}  show this help, or a command's: arclight help <command>`,
  ].join("\n");
}

/** Runs argv (without node and script); returns the exit code. */
export async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const sub = name === "help" ? rest[0] : undefined;
    const cmd = sub !== undefined ? commands.get(sub) : undefined;
    if (sub !== undefined && !cmd) {
      process.stderr.write(`arclight: unknown command ${sub}\n\n${helpText()}\n`);
      return 2;
    }
    process.stdout.write(`${cmd ? cmd.usage : helpText()}\n`);
    return 0;
  }
  const cmd = commands.get(name);
  if (!cmd) {
    process.stderr.write(`arclight: unknown command ${name}\n\n${helpText()}\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`arclight ${name}: ${e.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    process.stderr.write(`arclight ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
