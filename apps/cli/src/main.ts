import { BootError, ManifestError } from '@virtio-desktop/machine';
import { CliError } from './errors.js';
import { validate, validateHelp } from './commands/validate.js';
import { run, runHelp } from './commands/run.js';
import { web, webHelp } from './commands/web.js';
import {
  hotplug,
  hotplugHelp,
  rebootHelp,
  resize,
  resizeHelp,
  unplug,
  unplugHelp,
  key,
  keyHelp,
  type,
  typeHelp,
  pointer,
  pointerHelp,
  scroll,
  touch,
  touchHelp,
  screenshot,
  screenshotHelp,
  shutdownHelp,
  simple,
  snapshot,
  snapshotHelp,
  statusHelp,
} from './commands/control.js';

export const usage = `vdesk — run and control virtio-desktop machines

Usage:
  vdesk run [manifest.json] [options]   boot a machine (see vdesk run --help)
  vdesk validate <manifest.json>        check a manifest and its device packages
  vdesk web [--port N]                  serve the desktop as a web page (it runs in the browser)
  vdesk screenshot out.png              PNG of a running machine's screen
  vdesk resize WIDTHxHEIGHT             change the running machine's display size
  vdesk shutdown | reboot               ask the running guest to shut down or reboot
  vdesk hotplug <package> [--options J] add a device to the running machine
  vdesk unplug <device-id>              remove a hotplugged device
  vdesk key ctrl+alt+delete | type TEXT keyboard input to the running machine
  vdesk move|click X Y | scroll DY      pointer input (pixels of the guest screen)
  vdesk touch gesture.json              a multi-finger touch gesture
  vdesk status                          the running machine's devices and viewer URL
  vdesk snapshot FILE                   save the running machine (vdesk run --restore FILE resumes it)
  vdesk help [command]                  this text, or a command's

Options:
  -h, --help       show help
  -v, --version    print the version`;

interface Command {
  help: string;
  run(args: string[], out: (s: string) => void): Promise<number | void>;
}

const commands: Record<string, Command> = {
  run: { help: runHelp, run },
  validate: { help: validateHelp, run: validate },
  screenshot: { help: screenshotHelp, run: screenshot },
  shutdown: { help: shutdownHelp, run: (a, o) => simple('shutdown', a, o) },
  reboot: { help: rebootHelp, run: (a, o) => simple('reboot', a, o) },
  status: { help: statusHelp, run: (a, o) => simple('status', a, o) },
  hotplug: { help: hotplugHelp, run: hotplug },
  resize: { help: resizeHelp, run: resize },
  unplug: { help: unplugHelp, run: unplug },
  key: { help: keyHelp, run: key },
  type: { help: typeHelp, run: type },
  move: { help: pointerHelp, run: (a, o) => pointer('move', a, o) },
  click: { help: pointerHelp, run: (a, o) => pointer('click', a, o) },
  scroll: { help: pointerHelp, run: scroll },
  touch: { help: touchHelp, run: touch },
  snapshot: { help: snapshotHelp, run: snapshot },
  web: { help: webHelp, run: web },
};

/** Runs the CLI; returns the exit status. Never throws for user mistakes: they become one line on stderr. */
export async function main(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s + '\n'),
    err: (s) => process.stderr.write(s + '\n'),
  },
): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined) {
      return (await commands.run.run([], io.out)) ?? 0;
    }
    if (cmd === '-h' || cmd === '--help' || (cmd === 'help' && rest.length === 0)) {
      io.out(usage);
      return 0;
    }
    if (cmd === '-v' || cmd === '--version') {
      io.out('vdesk 0.1.0');
      return 0;
    }
    if (cmd === 'help') {
      const c = commands[rest[0]];
      if (!c) throw new CliError(`unknown command "${rest[0]}" (try vdesk --help)`, 2);
      io.out(c.help);
      return 0;
    }
    const c = commands[cmd];
    if (!c) {
      // `vdesk my.json` is short for `vdesk run my.json`.
      if (cmd.endsWith('.json') || cmd.startsWith('-')) return (await commands.run.run(argv, io.out)) ?? 0;
      throw new CliError(`unknown command "${cmd}" (try vdesk --help)`, 2);
    }
    if (rest.includes('-h') || rest.includes('--help')) {
      io.out(c.help);
      return 0;
    }
    return (await c.run(rest, io.out)) ?? 0;
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`vdesk: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof ManifestError || e instanceof BootError) {
      io.err(`vdesk: ${e.message}`);
      return 1;
    }
    io.err(`vdesk: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 70;
  }
}
