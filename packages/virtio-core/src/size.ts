/**
 * The one way a size is written anywhere in virtio-desktop (manifest `memory`, device options such as
 * virtio-blk `size` and virtio-fb `maxResourceMemory`, `vdesk run --memory`):
 *
 * - a JSON number is a count of bytes: `536870912`;
 * - a string is a number, optionally with a fraction, and an optional unit K, M, G or T, each a power of
 *   1024, optionally followed by "iB" or "B" in any case: `"512M"`, `"1.5G"`, `"64MiB"`, `"4096"`.
 *
 * The result must be a whole number of bytes ("1.5K" is 1536; "0.3K" is refused). Ranges (at least 16M,
 * a multiple of 512...) are for each caller to check.
 */

/** The string form, for JSON Schema `pattern` and editors. */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([KkMmGgTt]([Ii]?[Bb])?|[Bb])?\\s*$';

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i;
const UNIT: Readonly<Record<string, number>> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A value that is not a size; the message says what a size looks like. */
export class SizeError extends Error {
  override readonly name = 'SizeError';
}

/** Parse a size as the rule above says; throws {@link SizeError} (one line) for anything else. */
export function parseSize(v: unknown): number {
  let bytes: number;
  if (typeof v === 'number') bytes = v;
  else if (typeof v === 'string') {
    // No size is longer than this; the pattern's runs of \s* would take quadratic time on a long
    // string of spaces from a manifest or a hotplug line.
    if (v.length > 64) throw new SizeError(`"${v.slice(0, 40)}…" is not a size: too long`);
    const m = SIZE_RE.exec(v);
    if (!m) throw new SizeError(`"${v.slice(0, 40)}" is not a size: use bytes or e.g. "512M", "1.5G"`);
    bytes = Number(m[1]) * (m[2] ? UNIT[m[2].toLowerCase()] : 1);
  } else throw new SizeError('a size is a number of bytes or a string like "512M" or "1.5G"');
  const shown = typeof v === 'string' ? `"${v}"` : String(v).slice(0, 40);
  if (bytes < 0) throw new SizeError(`${shown} is negative`);
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`${shown} is not a whole number of bytes`);
  return bytes;
}

/** "512M", "1.5G", "4096": the shortest exact spelling of `bytes` in the units above. */
export function formatSize(bytes: number): string {
  for (const [u, n] of [
    ['T', 2 ** 40],
    ['G', 2 ** 30],
    ['M', 2 ** 20],
    ['K', 2 ** 10],
  ] as const)
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${u}`;
  return String(bytes);
}

/** A JSON Schema for a size, with `description` appended to the rule. */
export function sizeJsonSchema(description: string): Record<string, unknown> {
  return {
    description: `${description} A number of bytes, or a string with K, M, G or T (powers of 1024), e.g. "512M" or "1.5G".`,
    anyOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: SIZE_PATTERN },
    ],
  };
}
