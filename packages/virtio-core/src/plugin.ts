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

/** What a plugin gets from the host when it creates a device. */
export interface DevicePluginContext {
  readonly memory: GuestMemory;
  readonly log: Logger;
  /** Directory relative paths in options are resolved against (the manifest's), when the host has files. */
  readonly baseDir?: string;
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
}

/** The error a plugin throws for bad options; the assembler prefixes the device's place in the manifest. */
export class PluginOptionError extends Error {
  override readonly name = 'PluginOptionError';
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
