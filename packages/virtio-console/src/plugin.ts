import {
  PluginOptionError,
  StateReader,
  opt,
  type DevicePlugin,
  type Logger,
  type SavedState,
  type VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import { CLIPBOARD_PORT, ClipboardChannel } from './clipboard.js';
import { VirtioConsoleDevice } from './device.js';
import { PORT_NAME_PATTERN } from './protocol.js';

export interface ConsolePluginOptions {
  /** Port names in port-number order; default: the clipboard port alone. */
  ports: string[];
}

/**
 * A console whose port {@link CLIPBOARD_PORT}, when it has one, speaks the clipboard protocol: hosts find
 * it by device ID 3 and a `clipboard` with `setText` and `on` (see the README).
 */
export class ClipboardConsole extends VirtioConsoleDevice {
  readonly clipboard: ClipboardChannel | null;

  constructor(o: { ports: readonly string[]; log?: Logger }) {
    super(o);
    const port = this.port(CLIPBOARD_PORT);
    this.clipboard = port ? new ClipboardChannel(port, { log: o.log }) : null;
  }

  /** The console's state and the clipboard channel's (the agent's session goes on after a restore). */
  override saveState(): SavedState {
    const s = super.saveState();
    return {
      version: s.version,
      data: { ...(s.data as Record<string, never>), clipboard: this.clipboard?.saveState() ?? null },
    };
  }

  override restoreState(s: SavedState, ctx: VirtioDeviceContext | null): void {
    super.restoreState(s, ctx);
    const r = StateReader.of(s, 'virtio-console', [1]);
    if (this.clipboard && r.has('clipboard') && r.raw('clipboard') !== null)
      this.clipboard.restoreState(r.sub('clipboard'));
  }
}

/** Manifest: `{ "package": "@virtio-desktop/virtio-console" }` (the clipboard port). */
export const consolePlugin: DevicePlugin<ConsolePluginOptions, ClipboardConsole> = {
  name: 'virtio-console',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ports: {
        type: 'array',
        minItems: 1,
        maxItems: 31,
        uniqueItems: true,
        items: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
        description: `Names of the ports (the guest finds them in /sys/class/virtio-ports/*/name); default ["${CLIPBOARD_PORT}"], the clipboard agent's.`,
      },
    },
  },
  parseOptions(raw: unknown): ConsolePluginOptions {
    const o = opt.object(raw);
    opt.only(o, ['ports']);
    if (o.ports === undefined) return { ports: [CLIPBOARD_PORT] };
    const p = o.ports;
    if (!Array.isArray(p) || p.length < 1 || p.length > 31)
      throw new PluginOptionError('option "ports" must be a list of 1 to 31 names');
    for (const n of p as unknown[])
      if (typeof n !== 'string' || !PORT_NAME_PATTERN.test(n))
        throw new PluginOptionError('each port name must be 1 to 64 letters, digits, ".", "_" or "-"');
    if (new Set(p).size !== p.length) throw new PluginOptionError('port names must differ');
    return { ports: [...(p as string[])] };
  },
  create: (o, ctx) => new ClipboardConsole({ ports: o.ports, log: ctx.log }),
};
