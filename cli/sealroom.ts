// `sealroom <command>`: dispatches to each part's own main.

import { UsageError } from "../common/args";
import { EXIT } from "../common/exit";

const USAGE = `Usage: sealroom <command> [flags]

Commands:
  server   run the core server (TCP, optionally TLS)
  bridge   serve the web app and relay browser WebSockets to the core
  client   the native terminal client
  start    core (7700) + bridge (7780) with the default library

Run 'sealroom <command> --help' for its flags.`;

type Main = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Main>> = {
  server: async () => (await import("../server/main")).main,
  bridge: async () => (await import("../bridge/main")).main,
  client: async () => (await import("../client/main")).main,
  start: async () => (await import("./start")).main,
};

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(USAGE + "\n");
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
  if (!load) {
    process.stderr.write(`sealroom: unknown command '${cmd}' (try --help)\n`);
    return EXIT.usage;
  }
  try {
    return await (
      await load()
    )(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sealroom ${cmd}: ${e.message} (try --help)\n`);
      return EXIT.usage;
    }
    process.stderr.write(`sealroom ${cmd}: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
}
