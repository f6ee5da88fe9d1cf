/**
 * The plugin manifest: a JSON document that says what machine to build. Its schema is defined once here
 * (zod) and exported as JSON Schema for editors and for the docs (docs/manifest.md).
 */
import { z } from 'zod';

const SIZE_RE = /^(\d+)\s*([KMG])i?B?$/i;
const UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "512M", "1G", "1GiB" or a number of MiB. */
const memorySize = z
  .union([z.number().int().positive(), z.string().regex(SIZE_RE, 'use a size like "512M" or "2G"')])
  .transform((v) => {
    if (typeof v === 'number') return v * 1024 * 1024;
    const m = SIZE_RE.exec(v)!;
    return Number(m[1]) * UNITS[m[2].toUpperCase()];
  })
  .refine((b) => b >= 16 * 1024 ** 2 && b <= 16 * 1024 ** 3, 'memory must be between 16M and 16G')
  .refine((b) => b % (1024 * 1024) === 0, 'memory must be a whole number of MiB');

export const deviceEntrySchema = z.strictObject({
  /** npm package name, or a path (starting with ./, ../ or /) to a module, relative to the manifest. */
  package: z.string().min(1, 'package must not be empty'),
  /** Which device of the package, when it exports several (e.g. "keyboard" in virtio-input). */
  device: z.string().min(1).optional(),
  /** A name for this instance, unique in the machine (defaults to the package's device name and index). */
  id: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'id must be lowercase letters, digits and dashes, at most 32')
    .optional(),
  /** Passed to the plugin's parseOptions. */
  options: z.record(z.string(), z.unknown()).optional(),
});

export const manifestSchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().min(1).max(64).default('virtio-desktop'),
  /** The machine kind; only riscv64 exists today. */
  machine: z.literal('riscv64-virtio-desktop').default('riscv64-virtio-desktop'),
  memory: memorySize.default(512 * 1024 * 1024),
  cpus: z.number().int().min(1).max(8).default(1),
  /** UUID reported in the machine inventory (random per run if absent). */
  uuid: z.uuid().optional(),
  boot: z
    .strictObject({
      kernel: z.string().min(1).optional(),
      initrd: z.string().min(1).optional(),
      cmdline: z.string().max(2048).default('console=ttyS0'),
      /** "sbi": the machine implements SBI itself; a path: an M-mode firmware such as OpenSBI fw_dynamic.bin. */
      firmware: z.string().min(1).default('sbi'),
    })
    .default({ cmdline: 'console=ttyS0', firmware: 'sbi' }),
  /** "wall": real time; "instructions": time derived from retired instructions (repeatable runs). */
  clock: z.enum(['wall', 'instructions']).default('wall'),
  devices: z.array(deviceEntrySchema).max(31, 'at most 31 devices fit in the virtio window').default([]),
});

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
export type DeviceEntry = z.output<typeof deviceEntrySchema>;

/** A user mistake in a manifest: the message is one line naming the place and the problem. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

function where(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(top level)';
}

/** Validate parsed JSON; throws {@link ManifestError} with the first problem found. */
export function parseManifest(raw: unknown, source = 'manifest'): Manifest {
  const r = manifestSchema.safeParse(raw);
  if (r.success) {
    const ids = new Set<string>();
    r.data.devices.forEach((d, i) => {
      if (d.id && ids.has(d.id))
        throw new ManifestError(`${source}: devices[${i}].id: "${d.id}" is used twice`);
      if (d.id) ids.add(d.id);
    });
    return r.data;
  }
  const issue = r.error.issues[0];
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  throw new ManifestError(`${source}: ${where(issue.path)}: ${msg}`);
}

/** Parse JSON text and validate it. */
export function parseManifestText(text: string, source = 'manifest'): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  return parseManifest(raw, source);
}

/** The manifest's JSON Schema, for editors and documentation. */
export function manifestJsonSchema(): unknown {
  return z.toJSONSchema(manifestSchema, { io: 'input' });
}
