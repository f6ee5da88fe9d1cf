/**
 * The manifest's JSON Schema for editors: the zod schema's, with each known plugin's options folded in
 * where an entry names its package (and device), so that an editor completes `options` for it.
 */
import { baseManifestJsonSchema } from './manifest.js';
import { BUILTIN_PARTS } from './riscv/default-parts.js';
import type { PartKind } from './riscv/parts.js';

/** A plugin whose options the schema describes: the package that exports it, and its device name. */
export interface SchemaPlugin {
  package: string;
  /** The record key when the package exports several plugins (e.g. "keyboard"). */
  device?: string;
  plugin: { readonly name: string; readonly optionsSchema?: Readonly<Record<string, unknown>> };
}

type Json = Record<string, unknown>;

function foldOptions(entry: Json, plugins: readonly SchemaPlugin[], describe: string): Json {
  const known = plugins.filter((p) => p.plugin.optionsSchema);
  if (known.length === 0) return entry;
  const props = (entry.properties ?? {}) as Json;
  const pkg = props.package as Json;
  // Editors offer these names while still allowing any package.
  const names = [...new Set(known.map((p) => p.package))];
  props.package = { ...pkg, anyOf: [{ enum: names }, { type: 'string' }] };
  entry.allOf = known.map((p) => ({
    if: {
      required: p.device ? ['package', 'device'] : ['package'],
      properties: {
        package: { const: p.package },
        ...(p.device ? { device: { const: p.device } } : {}),
      },
    },
    then: {
      properties: {
        options: {
          ...p.plugin.optionsSchema,
          description: `Options of ${p.plugin.name}${describe}.`,
        },
      },
    },
  }));
  return entry;
}

const PART_KEYS: Record<string, PartKind> = {
  cpu: 'riscv-cpu',
  irqchip: 'riscv-irqchip',
  timer: 'riscv-timer',
};

/**
 * The manifest's JSON Schema, with the options of `devicePlugins` (and of the machine's own CPU,
 * interrupt-controller and timer plugins) described where an entry names them.
 */
export function manifestJsonSchema(devicePlugins: readonly SchemaPlugin[] = []): Json {
  const schema = baseManifestJsonSchema();
  const props = schema.properties as Json;
  const devices = props.devices as Json;
  devices.items = foldOptions(devices.items as Json, devicePlugins, '');
  for (const [key, kind] of Object.entries(PART_KEYS)) {
    const b = BUILTIN_PARTS[kind];
    props[key] = foldOptions(props[key] as Json, [{ package: b.package, plugin: b.plugin }], '');
  }
  return schema;
}
