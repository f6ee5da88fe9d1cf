/**
 * The device-plugin contract between a device package and a machine assembler.
 *
 * A package that provides devices default-exports either one {@link DevicePlugin} or a record of them by
 * name (e.g. `{ keyboard, pointer, touch }`). A manifest entry names the package and, when it exports
 * several, the device. The assembler validates the entry's options with {@link DevicePlugin.parseOptions}
 * and calls {@link DevicePlugin.create}. Nothing here depends on the machine package, so a third-party
 * package implements it by depending on virtio-core alone.
 */
import type { GuestMemory, Logger } from './bus.js';
import type { VirtioDevice } from './device.js';

/** One device of a {@link MachineInventory}. */
export interface MachineInventoryDevice {
  /** Virtio device ID ({@link DeviceId}). */
  deviceId: number;
  base: number;
  size: number;
  /** Interrupt number at the interrupt controller; 0 when the device has none. */
  irq: number;
  /** Plugin name, e.g. "virtio-blk". */
  name: string;
  transport?: 'VirtioMmio' | 'VirtioPci';
  /** Added after boot. */
  hotplugged?: boolean;
  /** This entry is the device asking. */
  self?: boolean;
}

/** The machine as its host describes it (what virtio-power reports to the guest). */
export interface MachineInventory {
  harts: number;
  ramBase: number;
  ramSize: number;
  /** e.g. "RiscvPlic"; a kind the reader does not know reads as unknown. */
  interruptController: string;
  /** e.g. "RiscvAclintMtimer". */
  timer: string;
  /** Version of the virtio-desktop machine specification, e.g. [0, 1]. */
  specVersion: readonly [number, number];
  devices: readonly MachineInventoryDevice[];
}

/**
 * What the host machine offers its devices in code (never through JSON options): its name and UUID and a
 * live description of itself. Every member is optional: a host that is not a whole machine (a test, a
 * foreign emulator) gives what it has.
 */
export interface MachineServices {
  readonly name?: string;
  /** Canonical 8-4-4-4-12 hex. */
  readonly uuid?: string;
  /** The machine as it is now, computed on each call. */
  inventory?(): MachineInventory;
}

/** What a plugin gets from the host when it creates a device. */
export interface DevicePluginContext {
  readonly memory: GuestMemory;
  readonly log: Logger;
  /** Directory relative paths in options are resolved against (the manifest's), when the host has files. */
  readonly baseDir?: string;
  /** The machine the device is part of, when the host is one. */
  readonly machine?: MachineServices;
}

/** A device model the assembler can place on a virtio transport. */
export interface DevicePlugin<Options = unknown, Device extends VirtioDevice = VirtioDevice> {
  /** Identifies the plugin in messages and the inventory, e.g. "virtio-blk". */
  readonly name: string;
  /**
   * Check the options of a manifest entry and return them typed. Throw a {@link PluginOptionError} whose
   * message is one line a user can act on (e.g. "size must be a positive number of bytes").
   */
  parseOptions(raw: unknown): Options;
  create(options: Options, ctx: DevicePluginContext): Device | Promise<Device>;
  /**
   * JSON Schema of the options object (optional), for editors: the machine's manifest schema folds it in
   * where a manifest entry names this plugin. Add `description` to every property.
   */
  readonly optionsSchema?: Readonly<Record<string, unknown>>;
}

// A registered symbol, not a class identity: a third-party plugin installed beside the manifest brings its
// own copy of virtio-core, whose PluginOptionError is another class, and its errors must still be known.
const OPTION_ERROR = Symbol.for('@virtio-desktop/virtio-core/PluginOptionError');

/** The error a plugin throws for bad options; the assembler prefixes the device's place in the manifest. */
export class PluginOptionError extends Error {
  override readonly name = 'PluginOptionError';
  readonly [OPTION_ERROR] = true;

  /** True for a PluginOptionError of any copy of virtio-core. */
  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[OPTION_ERROR] === true;
  }
}

/** True when `v` has the shape of a {@link DevicePlugin}. */
export function isDevicePlugin(v: unknown): v is DevicePlugin {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return typeof p.name === 'string' && typeof p.parseOptions === 'function' && typeof p.create === 'function';
}

/** Helpers for plugins that validate plain JSON options without a schema library. */
export const opt = {
  object(raw: unknown): Record<string, unknown> {
    if (raw === undefined) return {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new PluginOptionError('options must be an object');
    return raw as Record<string, unknown>;
  },
  /** Reject keys the plugin does not know, so that typos do not pass silently. */
  only(o: Record<string, unknown>, keys: readonly string[]): void {
    for (const k of Object.keys(o))
      if (!keys.includes(k))
        throw new PluginOptionError(`unknown option "${k}" (known: ${keys.join(', ') || 'none'})`);
  },
  string(o: Record<string, unknown>, key: string, def?: string): string {
    const v = o[key] ?? def;
    if (typeof v !== 'string') throw new PluginOptionError(`option "${key}" must be a string`);
    return v;
  },
  int(o: Record<string, unknown>, key: string, def: number, min: number, max: number): number {
    const v = o[key] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new PluginOptionError(`option "${key}" must be an integer from ${min} to ${max}`);
    return v;
  },
  bool(o: Record<string, unknown>, key: string, def: boolean): boolean {
    const v = o[key] ?? def;
    if (typeof v !== 'boolean') throw new PluginOptionError(`option "${key}" must be true or false`);
    return v;
  },
};
