import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, argsError } from '../errors.js';
import { findSocket, request } from '../control/client.js';
import { BUTTONS, MAX_LINE } from '../control/protocol.js';

export const screenshotHelp = `Usage: vdesk screenshot [--machine NAME] out.png

Writes a PNG of the running machine's screen.`;

export const shutdownHelp = `Usage: vdesk shutdown [--machine NAME]

Asks the guest to shut down through virtio-power (vdesk run then exits when it has).`;

export const rebootHelp = `Usage: vdesk reboot [--machine NAME]

Asks the guest to reboot through virtio-power; the machine boots again in the same vdesk process.`;

export const hotplugHelp = `Usage: vdesk hotplug [--machine NAME] <package> [--device NAME] [--id ID] [--options JSON]

Adds a device to the running machine, e.g. vdesk hotplug @virtio-desktop/virtio-blk --options '{"size":"64M"}'.
The guest's virtio-power driver registers it.`;

export const resizeHelp = `Usage: vdesk resize [--machine NAME] WIDTHxHEIGHT

Asks the guest to switch its display to a new size (the display-change event of virtio-gpu), as the viewer
does when its window is resized.`;

export const unplugHelp = `Usage: vdesk unplug [--machine NAME] DEVICE-ID

Removes a hotplugged device from the running machine: the guest's virtio-power driver unregisters it first.`;

export const statusHelp = `Usage: vdesk status [--machine NAME]

Prints the running machine's name, viewer URL and devices as JSON.`;

function parse(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: true, options: { machine: { type: 'string' } } });
  } catch (e) {
    throw argsError(e);
  }
}

export async function screenshot(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length !== 1 || !positionals[0].endsWith('.png'))
    throw new CliError('screenshot needs one output file ending in .png', 2);
  const r = await request(await findSocket(values.machine), { cmd: 'screenshot' });
  try {
    await writeFile(positionals[0], Buffer.from(String(r.png), 'base64'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : (code ?? (e as Error).message);
    throw new CliError(`cannot write ${positionals[0]}: ${why}`);
  }
  out(`${positionals[0]}: ${String(r.width)}x${String(r.height)}`);
}

export async function simple(
  cmd: 'shutdown' | 'reboot' | 'status',
  args: string[],
  out: (s: string) => void,
): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length) throw new CliError(`${cmd} takes no arguments`, 2);
  const r = await request(await findSocket(values.machine), { cmd });
  const { id: _id, ok: _ok, ...rest } = r;
  out(cmd === 'status' ? JSON.stringify(rest, null, 2) : String(r.message ?? 'ok'));
}

export async function hotplug(args: string[], out: (s: string) => void): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        machine: { type: 'string' },
        device: { type: 'string' },
        id: { type: 'string' },
        options: { type: 'string' },
      },
    });
  } catch (e) {
    throw argsError(e);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new CliError('hotplug needs one package name', 2);
  let options: unknown;
  if (values.options !== undefined) {
    try {
      options = JSON.parse(values.options);
    } catch {
      throw new CliError('--options must be JSON', 2);
    }
  }
  const device = { package: positionals[0], device: values.device, id: values.id, options };
  const r = await request(await findSocket(values.machine), { cmd: 'hotplug', device });
  out(`added ${String(r.device)} at 0x${Number(r.base).toString(16)} (irq ${String(r.irq)})`);
}

export async function resize(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  const m = positionals.length === 1 ? /^(\d{2,5})x(\d{2,5})$/.exec(positionals[0]) : null;
  if (!m) throw new CliError('resize needs one size such as 1024x768', 2);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 64 || height < 64 || width > 8192 || height > 8192)
    throw new CliError('resize: width and height must be within 64..8192', 2);
  await request(await findSocket(values.machine), { cmd: 'resize', width, height });
  out(`asked for ${width}x${height}`);
}

export async function unplug(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length !== 1) throw new CliError('unplug needs one device id (see vdesk status)', 2);
  const r = await request(await findSocket(values.machine), { cmd: 'unplug', device: positionals[0] });
  out(String(r.message));
}

export const keyHelp = `Usage: vdesk key [--machine NAME] CHORD...

Presses each chord in turn on the machine's virtio-input keyboard, e.g. vdesk key ctrl+alt+delete, vdesk key
a b enter. Key names: letters, digits, f1-f24, ctrl, shift, alt, meta, enter, esc, tab, space, backspace,
delete, up/down/left/right, home, end, pageup, pagedown, ... or DOM codes such as KeyA and ArrowUp.`;

export const typeHelp = `Usage: vdesk type [--machine NAME] [--interval MS] TEXT

Types TEXT on the machine's virtio-input keyboard as a US keyboard would (\\n is Enter), at the pace the
guest reads it and at least MS milliseconds apart (default 8); a keystroke that cannot be delivered is an
error with a count.`;

export const pointerHelp = `Usage: vdesk move|click [--machine NAME] [--button left|right|middle|side|extra] X Y
       vdesk scroll [--machine NAME] DY [DX]

Moves the virtio-input pointer to pixel (X, Y) of the guest screen (without a display: 0..32767), clicks
there, or turns the wheel DY notches up (negative: down) and DX right.`;

export const touchHelp = `Usage: vdesk touch [--machine NAME] GESTURE.json | --json '{...}'

Plays a multi-finger gesture on the virtio-input touchscreen. The JSON: {"intervalMs": 16, "frames":
[[{"id": 1, "x": 100, "y": 200}, {"id": 2, "x": 300, "y": 200}], ...]}: each frame lists every finger down
(pixels of the guest screen); a finger missing from a frame has lifted; all lift after the last frame.`;

/** Like parse, with one more string option. */
function parseWith(args: string[], extra: 'button' | 'json' | 'interval') {
  try {
    const r = parseArgs({
      args,
      allowPositionals: true,
      options: { machine: { type: 'string' }, [extra]: { type: 'string' } },
    });
    return {
      values: r.values as { machine?: string } & Partial<Record<typeof extra, string>>,
      positionals: r.positionals,
    };
  } catch (e) {
    throw argsError(e);
  }
}

const coord = (s: string | undefined, what: string): number => {
  const n = Number(s);
  if (s === undefined || !/^-?\d+(\.\d+)?$/.test(s) || !Number.isFinite(n))
    throw new CliError(`${what} must be a number`, 2);
  return n;
};

export async function key(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length === 0 || positionals.length > 8) throw new CliError('key needs 1 to 8 chords', 2);
  await request(await findSocket(values.machine), { cmd: 'key', keys: positionals });
  out('ok');
}

export async function type(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parseWith(args, 'interval');
  const intervalMs = values.interval === undefined ? 8 : Number(values.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > 1000)
    throw new CliError('--interval: whole milliseconds from 0 to 1000', 2);
  if (positionals.length !== 1) throw new CliError('type needs one text argument (quote it)', 2);
  const text = positionals[0].replace(/\\n/g, '\n');
  if (text.length > 4096) throw new CliError('type: at most 4096 characters at a time', 2);
  // Typing goes at the guest's pace (the machine answers once every key reached the guest).
  const r = await request(
    await findSocket(values.machine),
    { cmd: 'type', text, intervalMs },
    30_000 + text.length * (intervalMs + 50),
  );
  out(`typed ${String(r.typed)} keystrokes`);
}

export async function pointer(
  cmd: 'move' | 'click',
  args: string[],
  out: (s: string) => void,
): Promise<void> {
  const { values, positionals } = parseWith(args, 'button');
  if (positionals.length !== 2) throw new CliError(`${cmd} needs X and Y`, 2);
  const x = coord(positionals[0], 'X');
  const y = coord(positionals[1], 'Y');
  const button = values.button ?? 'left';
  if (!(BUTTONS as readonly string[]).includes(button))
    throw new CliError(`unknown button ${JSON.stringify(button)} (${BUTTONS.join(', ')})`, 2);
  if (cmd === 'move') await request(await findSocket(values.machine), { cmd, x, y });
  else await request(await findSocket(values.machine), { cmd, x, y, button });
  out('ok');
}

export async function scroll(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length < 1 || positionals.length > 2)
    throw new CliError('scroll needs DY and optionally DX', 2);
  const dy = coord(positionals[0], 'DY');
  const dx = positionals[1] === undefined ? 0 : coord(positionals[1], 'DX');
  if (!Number.isInteger(dy) || !Number.isInteger(dx) || Math.abs(dy) > 100 || Math.abs(dx) > 100)
    throw new CliError('scroll: DY and DX must be whole notches within -100..100', 2);
  await request(await findSocket(values.machine), { cmd: 'scroll', dy, dx });
  out('ok');
}

export async function touch(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parseWith(args, 'json');
  let text = values.json;
  if (text === undefined) {
    if (positionals.length !== 1) throw new CliError('touch needs a gesture file or --json', 2);
    text = await readBounded(positionals[0], MAX_LINE);
  }
  let g: unknown;
  try {
    g = JSON.parse(text);
  } catch {
    throw new CliError('touch: the gesture is not valid JSON', 2);
  }
  const o = (typeof g === 'object' && g !== null ? g : {}) as { frames?: unknown; intervalMs?: unknown };
  // The machine validates every frame and contact; this only shapes the request, and waits as long as
  // the gesture lasts.
  const frames = Array.isArray(o.frames) ? o.frames.length : 0;
  const interval = typeof o.intervalMs === 'number' && o.intervalMs >= 0 ? Math.min(o.intervalMs, 1000) : 16;
  const r = await request(
    await findSocket(values.machine),
    { cmd: 'touch', frames: o.frames, intervalMs: o.intervalMs },
    30_000 + frames * (interval + 50),
  );
  out(`played ${String(r.frames)} frames`);
}

/**
 * A gesture file, read up to `max` bytes: a huge file (or /dev/zero) is refused after reading at most
 * that much, never loaded whole.
 */
async function readBounded(file: string, max: number): Promise<string> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)}`);
  }
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > max) throw new CliError(`${file}: a gesture file is at most ${max / 1024} KiB`, 2);
    return buf.subarray(0, n).toString('utf8');
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    await fh.close();
  }
}

export const snapshotHelp = `Usage: vdesk snapshot [--machine NAME] FILE

Saves the running machine to FILE: the guest pauses (disk requests in flight finish first), its state is
written (RAM without zero pages, compressed; a copy-on-write disk's changes, the base image by content
hash) and it runs on. vdesk run --restore FILE continues from it. FILE is replaced only once complete.`;

export async function snapshot(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length !== 1) throw new CliError('snapshot needs one output file', 2);
  const file = path.resolve(positionals[0]);
  const t0 = performance.now();
  // A large guest takes seconds to compress: wait long enough for 8 GiB of RAM.
  const r = await request(await findSocket(values.machine), { cmd: 'snapshot', file }, 600_000);
  const mib = (n: unknown): string => `${(Number(n) / (1 << 20)).toFixed(1)} MiB`;
  out(
    `${positionals[0]}: ${mib(r.bytes)} (guest RAM ${mib(r.ramSize)}, ${mib(r.ramInUse)} of it in use; ` +
      `paused ${Math.round(Number(r.pausedMs))} ms, ${Math.round(performance.now() - t0)} ms in all)`,
  );
}
