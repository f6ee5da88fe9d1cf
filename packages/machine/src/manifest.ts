/**
 * The plugin manifest: a JSON document that says what machine to build. Its schema is defined once here
 * (zod) and exported as JSON Schema for editors (the build writes dist/manifest.schema.json, with each
 * shipped plugin's options folded in; see docs/manifest.md).
 */
import { SIZE_PATTERN, SizeError, formatSize, parseSize } from '@virtio-desktop/virtio-core';
import { z } from 'zod';

const MIN_MEMORY = 16 * 1024 ** 2;
const MAX_MEMORY = 16 * 1024 ** 3;

/** Guest RAM by virtio-core's one size rule (a number is bytes), 16M to 16G, whole MiB. */
const memorySize = z
  .union([
    z.number(),
    // Length first, and only then the pattern: its \s* runs backtrack quadratically on a long string.
    z
      .string()
      .max(64, { abort: true })
      .regex(new RegExp(SIZE_PATTERN), 'not a size: use bytes or e.g. "512M", "1.5G"'),
  ])
  .transform((v, ctx) => {
    try {
      const b = parseSize(v);
      if (b < MIN_MEMORY || b > MAX_MEMORY) {
        const hint =
          typeof v === 'number' && v < MIN_MEMORY ? ` (a number is bytes: "${v}M" is ${v} MiB)` : '';
        ctx.addIssue({
          code: 'custom',
          message: `memory must be from 16M to 16G, not ${formatSize(b)}${hint}`,
        });
      } else if (b % (1024 * 1024) !== 0)
        ctx.addIssue({
          code: 'custom',
          message: `memory must be a whole number of MiB, not ${formatSize(b)}`,
        });
      return b;
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof SizeError ? e.message : String(e) });
      return z.NEVER;
    }
  })
  .describe(
    'Guest RAM, 16M to 16G in whole MiB: a number of bytes, or a string with K, M, G or T (powers of 1024), e.g. "512M" or "1.5G".',
  );

const packageName = z
  .string()
  .min(1, 'package must not be empty')
  .describe(
    'An npm package name (installed next to the manifest), or a path starting with ./, ../ or / to a module, relative to the manifest.',
  );
const pluginOptions = z.record(z.string(), z.unknown()).describe("Checked by the plugin's parseOptions.");

export const deviceEntrySchema = z
  .strictObject({
    package: packageName,
    device: z
      .string()
      .min(1)
      .optional()
      .describe('Which device of the package, when it exports several (e.g. "keyboard" in virtio-input).'),
    id: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, 'not an id: use lowercase letters, digits and dashes, at most 32')
      .optional()
      .describe("A name for this instance, unique in the machine (default: the plugin's name and slot)."),
    options: pluginOptions.optional(),
  })
  .describe('A virtio device: a device plugin package and its options.');

/** A `cpu`, `irqchip` or `timer` entry: a part plugin package and its options. */
const partEntry = (what: string, def: string) =>
  z
    .strictObject({ package: packageName, options: pluginOptions.optional() })
    .optional()
    .describe(`${what}: a part plugin package and its options (default: ${def}).`);

export const manifestSchema = z.strictObject({
  $schema: z.string().optional().describe('The JSON Schema of this file, for editors.'),
  name: z
    .string()
    .min(1)
    .max(64, { abort: true })
    // The name ends up in the device tree's model string, where a NUL would cut it short.
    .regex(/^[^\0]*$/, 'not a name: it contains a NUL character')
    .default('virtio-desktop')
    .describe('The machine name: in the inventory, the control socket and disk-image locks.'),
  machine: z
    .literal('riscv64-virtio-desktop')
    .default('riscv64-virtio-desktop')
    .describe('The machine kind; only riscv64-virtio-desktop exists today.'),
  memory: memorySize.default(512 * 1024 * 1024),
  cpus: z.number().int().min(1).max(8).default(1).describe('Number of harts, 1 to 8.'),
  uuid: z.uuid().optional().describe('UUID reported in the machine inventory (random per run if absent).'),
  cpu: partEntry('The CPU', '"@virtio-desktop/cpu-riscv", engine "jit"'),
  irqchip: partEntry('The platform interrupt controller', '"@virtio-desktop/irqchip", a PLIC'),
  timer: partEntry('The timer and clock device', '"@virtio-desktop/timer", a SiFive CLINT'),
  boot: z
    .strictObject({
      kernel: z.string().min(1).optional().describe('Linux Image file, relative to the manifest.'),
      initrd: z.string().min(1).optional().describe('Initial ramdisk, relative to the manifest.'),
      cmdline: z
        .string()
        .max(2048, { abort: true })
        // A device-tree string ends at its first NUL: the kernel would silently get only the part before.
        .regex(/^[^\0]*$/, 'not a command line: it contains a NUL character')
        .default('console=ttyS0')
        .describe('The kernel command line.'),
      firmware: z
        .string()
        .min(1)
        .default('sbi')
        .describe(
          '"sbi": the machine implements SBI itself; a path: an M-mode firmware such as OpenSBI fw_dynamic.bin.',
        ),
    })
    .default({ cmdline: 'console=ttyS0', firmware: 'sbi' })
    .describe('What the machine boots.'),
  threads: z
    .boolean()
    .default(false)
    .describe(
      'Run each hart on its own worker thread over shared RAM (devices stay on the main thread). Needs the wall clock: with "instructions" the machine runs on one thread.',
    ),
  clock: z
    .enum(['wall', 'instructions'])
    .default('wall')
    .describe('"wall": real time; "instructions": time derived from retired instructions (repeatable runs).'),
  devices: z
    .array(deviceEntrySchema)
    .max(31, 'at most 31 devices fit in the virtio window')
    .default([])
    .describe(
      'The virtio devices, placed in virtio-mmio slots in this order (virtio-power always in slot 0).',
    ),
});

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
export type DeviceEntry = z.output<typeof deviceEntrySchema>;

/** A user mistake in a manifest: the message is one line naming the place and the problem. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  /** Whatever a message quotes (package names, ids, plugin messages), it stays one line of bounded size. */
  constructor(message: string) {
    let s = message.replace(/[\r\n]+/g, ' ');
    if (s.length > 480) s = `${s.slice(0, 480)}...`;
    super(s);
  }
}

/** Longest piece of a manifest value quoted in a message: a 50 MB string must not become the message. */
const QUOTE_MAX = 64;
/** Longest problem description in a ManifestError. */
const MESSAGE_MAX = 300;
/** Unknown keys named in one message; the rest are counted. */
const KEYS_MAX = 5;

/** A string as JSON, cut short: JSON escapes newlines, so the message stays one line. */
const quote = (s: string): string =>
  s.length > QUOTE_MAX ? `${JSON.stringify(s.slice(0, QUOTE_MAX))}...` : JSON.stringify(s);

function where(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    const k = typeof p === 'string' && /^[\w$-]{1,64}$/.test(p) ? p : quote(String(p));
    s += typeof p === 'number' ? `[${p}]` : s ? `.${k}` : k;
  }
  return s || '(top level)';
}

const kindOf = (v: unknown): string =>
  Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`;

/**
 * A value for a message: strings quoted and cut, numbers as numbers (JSON would turn 1e400's Infinity into
 * "null"), anything else by its kind. Never JSON.stringify of a whole value: a deeply nested one overflows
 * the stack and a large one makes a message of megabytes.
 */
const show = (v: unknown): string =>
  typeof v === 'string' ? quote(v) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : kindOf(v);

/** zod's issue in our words: one line, no "expected number to be <=8". */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  let value: unknown = raw;
  for (const p of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[p as string];
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key ${issue.keys.slice(0, KEYS_MAX).map(quote).join(', ')}${
        issue.keys.length > KEYS_MAX ? ` and ${issue.keys.length - KEYS_MAX} more` : ''
      }`;
    case 'too_big':
      return typeof value === 'number'
        ? `${value} is more than ${String(issue.maximum)}`
        : Array.isArray(value)
          ? (issue.message ?? `at most ${String(issue.maximum)} entries`)
          : `longer than ${String(issue.maximum)} characters`;
    case 'too_small':
      return typeof value === 'number'
        ? `${value} is less than ${String(issue.minimum)}`
        : `must not be empty`;
    case 'invalid_type':
      if (value === undefined) return `missing (${issue.expected} required)`;
      return issue.expected === 'int'
        ? `${String(value)} is not a whole number`
        : `must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}, not ${kindOf(value)}`;
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, not ${show(value)}`;
    case 'invalid_format':
      // Our regex messages read "not a size: ..." after the value; zod's formats (uuid) get a sentence.
      return issue.format === 'regex'
        ? `${show(value)} is ${issue.message}`
        : `${show(value)} is not a valid ${issue.format}`;
    case 'invalid_union':
      return typeof value === 'string' || typeof value === 'number'
        ? `${show(value)} is not valid`
        : `must not be ${kindOf(value)}`;
    default:
      return issue.message;
  }
}

/**
 * Another package's message (a plugin's option error, parseSize's) as one short line: they may quote the
 * option names and values they were given, newlines and megabytes included.
 */
export function oneLine(msg: string): string {
  const s = msg.replace(/[\r\n]+/g, ' ');
  return s.length > MESSAGE_MAX ? `${s.slice(0, MESSAGE_MAX)}...` : s;
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
  throw new ManifestError(`${source}: ${where(issue.path)}: ${oneLine(describeIssue(issue, raw))}`);
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

/** The manifest's JSON Schema without plugin options (see manifestJsonSchema in schema.ts for those). */
export function baseManifestJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
