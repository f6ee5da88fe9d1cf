import { PluginOptionError, opt, type DevicePlugin } from '@virtio-desktop/virtio-core';
import { VirtioPowerDevice, type InventoryProvider } from './device.js';
import { parseUuid } from './protocol.js';

export interface PowerPluginOptions {
  /** Supplied by the machine in code, never by a JSON manifest. */
  inventory?: InventoryProvider;
  name?: string;
  uuid?: string;
}

/** The "virtio-power" device plugin; the machine places it in virtio-mmio slot 0. */
export const powerPlugin: DevicePlugin<PowerPluginOptions, VirtioPowerDevice> = {
  name: 'virtio-power',
  parseOptions(raw: unknown): PowerPluginOptions {
    const o = opt.object(raw);
    opt.only(o, ['inventory', 'name', 'uuid']);
    const out: PowerPluginOptions = {};
    if (o.inventory !== undefined) {
      if (typeof o.inventory !== 'function')
        throw new PluginOptionError('option "inventory" must be a function returning the inventory');
      out.inventory = o.inventory as InventoryProvider;
    }
    if (o.name !== undefined) {
      out.name = opt.string(o, 'name');
      if (new TextEncoder().encode(out.name).length > 47)
        throw new PluginOptionError('option "name" must be at most 47 bytes of UTF-8');
    }
    if (o.uuid !== undefined) {
      out.uuid = opt.string(o, 'uuid');
      try {
        parseUuid(out.uuid);
      } catch {
        throw new PluginOptionError('option "uuid" must look like 123e4567-e89b-12d3-a456-426614174000');
      }
    }
    return out;
  },
  create(options, ctx) {
    return new VirtioPowerDevice({ ...options, log: ctx.log });
  },
};
