import { isDevicePlugin, type DevicePlugin } from '@virtio-desktop/virtio-core';
import type { DeviceEntry } from './manifest.js';
import { ManifestError } from './manifest.js';

/** Loads a module named in a manifest: a package name or a path. Host-specific (Node, a bundler...). */
export type ModuleLoader = (spec: string) => Promise<unknown>;

/**
 * Find the plugin a manifest entry names. A module default-exports one plugin or a record of plugins; it
 * may also export `plugins` (a record) for bundlers that lose default exports.
 */
export async function resolvePlugin(
  entry: DeviceEntry,
  where: string,
  load: ModuleLoader,
): Promise<DevicePlugin> {
  let mod: unknown;
  try {
    mod = await load(entry.package);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ManifestError(`${where}: cannot load package "${entry.package}": ${msg}`);
  }
  const m = mod as Record<string, unknown>;
  const exported = m.default ?? m.plugins;
  if (isDevicePlugin(exported)) {
    if (entry.device && entry.device !== exported.name)
      throw new ManifestError(
        `${where}: "${entry.package}" provides only "${exported.name}", not "${entry.device}"`,
      );
    return exported;
  }
  if (typeof exported === 'object' && exported !== null) {
    const rec = exported as Record<string, unknown>;
    const names = Object.keys(rec).filter((k) => isDevicePlugin(rec[k]));
    if (names.length === 0) throw new ManifestError(`${where}: "${entry.package}" exports no device plugin`);
    if (!entry.device) {
      if (names.length === 1) return rec[names[0]] as DevicePlugin;
      throw new ManifestError(
        `${where}: "${entry.package}" has several devices; set "device" to one of: ${names.join(', ')}`,
      );
    }
    const p = rec[entry.device];
    if (!isDevicePlugin(p))
      throw new ManifestError(
        `${where}: "${entry.package}" has no device "${entry.device}" (it has: ${names.join(', ')})`,
      );
    return p;
  }
  throw new ManifestError(`${where}: "${entry.package}" exports no device plugin`);
}
