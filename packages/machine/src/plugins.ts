import { PluginOptionError, isDevicePlugin, type DevicePlugin } from '@virtio-desktop/virtio-core';
import { BUILTIN_PARTS } from './riscv/default-parts.js';
import { isPartPlugin, type PartKind, type PartKinds, type PartPlugin } from './riscv/parts.js';
import type { DeviceEntry } from './manifest.js';
import { ManifestError, oneLine } from './manifest.js';

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
    const msg = oneLine(e instanceof Error ? e.message.split('\n')[0] : String(e));
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

/** A manifest's `cpu`, `irqchip` or `timer` entry. */
export interface PartEntry {
  package: string;
  options?: Record<string, unknown>;
}

/**
 * Find the part plugin a manifest entry names and create the part. The machine's own packages map to the
 * plugins it ships (no load needed); any other package is loaded like a device package and must export a
 * plugin of `kind` (default export, a record of plugins, or `plugins`).
 */
export async function resolvePart<K extends PartKind>(
  kind: K,
  entry: PartEntry | undefined,
  where: string,
  load: ModuleLoader,
): Promise<PartKinds[K]> {
  const builtin = BUILTIN_PARTS[kind];
  let plugin: PartPlugin<K>;
  if (!entry || entry.package === builtin.package) plugin = builtin.plugin as PartPlugin<K>;
  else {
    let mod: unknown;
    try {
      mod = await load(entry.package);
    } catch (e) {
      const msg = oneLine(e instanceof Error ? e.message.split('\n')[0] : String(e));
      throw new ManifestError(`${where}: cannot load package "${entry.package}": ${msg}`);
    }
    const m = mod as Record<string, unknown>;
    const candidates = [m.default, m.plugins].flatMap((v) =>
      isPartPlugin(v, kind)
        ? [v]
        : typeof v === 'object' && v !== null
          ? Object.values(v).filter((p): p is PartPlugin<K> => isPartPlugin(p, kind))
          : [],
    );
    const found = [...new Set(candidates)];
    if (found.length === 0) throw new ManifestError(`${where}: "${entry.package}" exports no ${kind} plugin`);
    if (found.length > 1)
      throw new ManifestError(`${where}: "${entry.package}" exports several ${kind} plugins`);
    plugin = found[0];
  }
  let options: unknown;
  try {
    options = plugin.parseOptions(entry?.options);
  } catch (e) {
    if (e instanceof PluginOptionError)
      throw new ManifestError(`${where} (${plugin.name}): ${oneLine(e.message)}`);
    throw new ManifestError(`${where} (${plugin.name}): invalid options: ${oneLine(String(e))}`);
  }
  try {
    return plugin.create(options);
  } catch (e) {
    const msg = oneLine(e instanceof Error ? e.message : String(e));
    throw new ManifestError(`${where} (${plugin.name}): could not create the part: ${msg}`);
  }
}
