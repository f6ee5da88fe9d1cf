import { PluginOptionError, opt, type DevicePlugin } from '@virtio-desktop/virtio-core';
import { Keyboard, Pointer, Touchscreen, type ProfileOptions } from './profiles.js';
import type { VirtioInputDevice } from './device.js';

export interface InputPluginOptions {
  name?: string;
  serial?: string;
}

function parse(raw: unknown): InputPluginOptions {
  const o = opt.object(raw);
  opt.only(o, ['name', 'serial']);
  const out: InputPluginOptions = {};
  for (const k of ['name', 'serial'] as const) {
    if (o[k] === undefined) continue;
    const v = opt.string(o, k);
    // Linux keeps 64 bytes of the name; printable ASCII keeps udev rules and logs readable.
    if (!/^[\x20-\x7e]{1,64}$/.test(v))
      throw new PluginOptionError(`option "${k}" must be 1 to 64 printable ASCII characters`);
    out[k] = v;
  }
  return out;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      pattern: '^[\\x20-\\x7e]{1,64}$',
      description: 'Device name the guest sees (1 to 64 printable ASCII characters).',
    },
    serial: {
      type: 'string',
      pattern: '^[\\x20-\\x7e]{1,64}$',
      description: 'Serial the guest sees (1 to 64 printable ASCII characters).',
    },
  },
} as const;

function plugin<D extends VirtioInputDevice>(
  name: string,
  make: (o: ProfileOptions) => D,
): DevicePlugin<InputPluginOptions, D> {
  return { name, optionsSchema, parseOptions: parse, create: (o, ctx) => make({ ...o, log: ctx.log }) };
}

/** Manifest: `{ "package": "@virtio-desktop/virtio-input", "device": "keyboard" }` (or pointer, touch). */
export const keyboardPlugin = plugin('virtio-keyboard', (o) => new Keyboard(o));
export const pointerPlugin = plugin('virtio-pointer', (o) => new Pointer(o));
export const touchPlugin = plugin('virtio-touch', (o) => new Touchscreen(o));

export const plugins = { keyboard: keyboardPlugin, pointer: pointerPlugin, touch: touchPlugin };
