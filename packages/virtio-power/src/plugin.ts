import {
  PluginOptionError,
  opt,
  type DevicePlugin,
  type MachineInventory,
} from '@virtio-desktop/virtio-core';
import { VirtioPowerDevice, type InventorySnapshot } from './device.js';
import { InterruptController, TimerKind, parseUuid } from './protocol.js';

export interface PowerPluginOptions {
  name?: string;
  uuid?: string;
  forceAfterMs?: number;
}

const known = <T extends object>(table: T, v: string): keyof T | 'Unknown' =>
  Object.hasOwn(table, v) ? (v as keyof T) : 'Unknown';

/** The machine's inventory in the device's terms: kinds this package does not know read as Unknown. */
function snapshot(inv: MachineInventory): InventorySnapshot {
  return {
    ...inv,
    interruptController: known(InterruptController, inv.interruptController),
    timer: known(TimerKind, inv.timer),
  };
}

/**
 * The "virtio-power" device plugin; the machine places it in virtio-mmio slot 0. The inventory, and the
 * name and UUID unless the options set them, come from the host's `ctx.machine`, never from JSON.
 */
export const powerPlugin: DevicePlugin<PowerPluginOptions, VirtioPowerDevice> = {
  name: 'virtio-power',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      name: {
        type: 'string',
        maxLength: 47,
        description:
          "Machine name in the inventory (at most 47 bytes of UTF-8); default: the manifest's name.",
      },
      uuid: {
        type: 'string',
        pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
        description: "Machine UUID in the inventory; default: the manifest's uuid, else random per run.",
      },
      forceAfterMs: {
        type: 'integer',
        minimum: 0,
        maximum: 3_600_000,
        description:
          'Milliseconds a guest gets to act on a power-button request (vdesk shutdown) before the device insists with FORCE_POWER_OFF; 0: never. Default 15000.',
      },
    },
  },
  parseOptions(raw: unknown): PowerPluginOptions {
    const o = opt.object(raw);
    opt.only(o, ['name', 'uuid', 'forceAfterMs']);
    const out: PowerPluginOptions = {};
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
    if (o.forceAfterMs !== undefined) out.forceAfterMs = opt.int(o, 'forceAfterMs', 0, 0, 3_600_000);
    return out;
  },
  create(options, ctx) {
    const m = ctx.machine;
    const inventory = m?.inventory;
    return new VirtioPowerDevice({
      name: options.name ?? m?.name?.slice(0, 40),
      uuid: options.uuid ?? m?.uuid,
      inventory: inventory ? () => snapshot(inventory.call(m)) : undefined,
      log: ctx.log,
      ...(options.forceAfterMs === undefined ? {} : { forceAfterMs: options.forceAfterMs }),
    });
  },
};
