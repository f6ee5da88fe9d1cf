import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CliError } from '../errors.js';
import { findSocket, request } from '../control/client.js';

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
    throw new CliError(`${(e as Error).message.split('\n')[0]}`, 2);
  }
}

export async function screenshot(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length !== 1 || !positionals[0].endsWith('.png'))
    throw new CliError('screenshot needs one output file ending in .png', 2);
  const r = await request(findSocket(values.machine), { cmd: 'screenshot' });
  await writeFile(positionals[0], Buffer.from(String(r.png), 'base64'));
  out(`${positionals[0]}: ${String(r.width)}x${String(r.height)}`);
}

export async function simple(
  cmd: 'shutdown' | 'reboot' | 'status',
  args: string[],
  out: (s: string) => void,
): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length) throw new CliError(`${cmd} takes no arguments`, 2);
  const r = await request(findSocket(values.machine), { cmd });
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
    throw new CliError(`${(e as Error).message.split('\n')[0]}`, 2);
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
  const r = await request(findSocket(values.machine), { cmd: 'hotplug', device });
  out(`added ${String(r.id)} at 0x${Number(r.base).toString(16)} (irq ${String(r.irq)})`);
}

export async function resize(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  const m = positionals.length === 1 ? /^(\d{2,5})x(\d{2,5})$/.exec(positionals[0]) : null;
  if (!m) throw new CliError('resize needs one size such as 1024x768', 2);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 64 || height < 64 || width > 8192 || height > 8192)
    throw new CliError('resize: width and height must be within 64..8192', 2);
  await request(findSocket(values.machine), { cmd: 'resize', width, height });
  out(`asked for ${width}x${height}`);
}

export async function unplug(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parse(args);
  if (positionals.length !== 1) throw new CliError('unplug needs one device id (see vdesk status)', 2);
  const r = await request(findSocket(values.machine), { cmd: 'unplug', device: positionals[0] });
  out(String(r.message));
}
