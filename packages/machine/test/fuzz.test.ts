/**
 * Property-based fuzzing (fast-check) of what a manifest feeds the machine. A manifest is untrusted JSON
 * (and `hotplug` entries arrive over the control socket): whatever it holds — any JSON value, deep nesting,
 * huge numbers, __proto__/constructor keys, long strings — parseManifest, parseManifestText and the part
 * resolution throw only a one-line ManifestError of bounded length, quickly, and never anything else.
 *
 * The FDT writer itself takes no external input: its tree is built by the machine. What reaches it from
 * outside is the manifest's name (the model string), boot.cmdline (bootargs), cpus and memory, so the last
 * property feeds every manifest parseManifest accepts through buildDeviceTree and buildFdt and reads the
 * DTB back: well-formed, and the guest sees exactly the cmdline and name the manifest gave.
 * VDESK_LONG=1 runs 100x more cases with a random seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_PARTS,
  ManifestError,
  buildDeviceTree,
  buildFdt,
  parseManifest,
  parseManifestText,
  resolvePart,
  type PartKind,
} from '../src/index.js';

const LONG = process.env.VDESK_LONG === '1';
const TIMEOUT = LONG ? 900_000 : 60_000;
const RUNS = LONG ? 20_000 : 200;
const SEED = LONG ? undefined : 15;
const SLOW_MS = 250;

const EVIL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const FIELDS = ['$schema', 'name', 'machine', 'memory', 'cpus', 'uuid', 'cpu', 'irqchip', 'timer'];
const MORE = ['boot', 'clock', 'devices'];

const edgy = fc.oneof(
  fc.integer({ min: -2, max: 40 }),
  fc.constantFrom(2 ** 24, 2 ** 29, 2 ** 34, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 5e-324, 0.5, -0),
  fc.double({ noNaN: true }),
);
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('512M', '1.5G', ' 16 M ', '16G', '17G', 'riscv64-virtio-desktop', 'wall', 'a\nb', 'x\0y'),
);

const jsonValue = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.boolean(), fc.constant(null), edgy, text),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(text, fc.constantFrom(...EVIL_KEYS, ...FIELDS, 'package', 'options')), tie('v'), {
      maxKeys: 5,
    }),
  ),
}));

const entry = fc.record(
  {
    package: fc.oneof(text, fc.constantFrom(...Object.values(BUILTIN_PARTS).map((b) => b.package))),
    device: text,
    id: fc.oneof(text, fc.constantFrom('a', 'disk-1', 'disk-1')),
    options: jsonValue.v,
  },
  { requiredKeys: [] },
);

/** Objects shaped like manifests, so zod's deeper checks (sizes, entries, ids) are reached. */
const shaped = fc
  .record(
    {
      ...Object.fromEntries(FIELDS.map((f) => [f, fc.oneof(text, edgy, jsonValue.v)])),
      cpu: fc.oneof(entry, jsonValue.v),
      boot: fc.oneof(
        fc.record(
          { kernel: text, initrd: text, cmdline: fc.oneof(text, jsonValue.v), firmware: text },
          { requiredKeys: [] },
        ),
        jsonValue.v,
      ),
      clock: fc.oneof(fc.constantFrom('wall', 'instructions'), jsonValue.v),
      devices: fc.oneof(fc.array(entry, { maxLength: 4 }), jsonValue.v),
    },
    { requiredKeys: [] },
  )
  .chain((m) =>
    fc
      .dictionary(fc.constantFrom(...EVIL_KEYS, ...MORE), jsonValue.v, { maxKeys: 1 })
      .map((evil) => ({ ...evil, ...m })),
  );

/** Files a greedy or careless author could write: deep nesting, long strings, many keys. */
const monster = fc
  .tuple(
    fc.constantFrom('machine', 'clock', 'memory', 'name', 'uuid', 'devices', 'boot', 'zz', 'cpu'),
    fc.oneof(
      fc.integer({ min: 1, max: 200_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
      fc.integer({ min: 1, max: 100_000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
      fc.integer({ min: 0, max: 2_000_000 }).map((n) => JSON.stringify('9'.repeat(n))),
      fc.integer({ min: 0, max: 200_000 }).map((n) => JSON.stringify('1' + ' '.repeat(n) + 'x')),
      fc
        .integer({ min: 0, max: 50_000 })
        .map((n) => `{${Array.from({ length: n }, (_, i) => `"k${i}\\n":1`).join()}}`),
      fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890'),
    ),
  )
  .map(([k, v]) => `{"${k}":${v}}`);

/** The one error a manifest may cause: a ManifestError of one short line. */
function checkError(e: unknown): void {
  expect(e).toBeInstanceOf(ManifestError);
  const msg = (e as Error).message;
  expect(msg).not.toMatch(/[\r\n]/);
  expect(msg.length).toBeLessThan(500);
}

function parsesOrRefuses(f: () => unknown): unknown {
  const t0 = performance.now();
  let out: unknown;
  try {
    out = f();
  } catch (e) {
    checkError(e);
  }
  expect(performance.now() - t0).toBeLessThan(SLOW_MS);
  return out;
}

describe('manifest fuzzing', () => {
  it(
    `parseManifest and parseManifestText throw only a one-line ManifestError (${RUNS} cases each way)`,
    () => {
      fc.assert(
        fc.property(fc.oneof(jsonValue.v, { weight: 3, arbitrary: shaped }), (raw) => {
          parsesOrRefuses(() => parseManifest(raw));
          const json = JSON.stringify(raw);
          parsesOrRefuses(() => parseManifestText(json));
        }),
        { numRuns: RUNS, seed: SEED },
      );
      fc.assert(
        fc.property(fc.oneof(monster, fc.string({ unit: 'binary', maxLength: 100 })), (t) => {
          parsesOrRefuses(() => parseManifestText(t));
        }),
        { numRuns: RUNS / 4, seed: SEED },
      );
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );

  it(
    `cpu, irqchip and timer entries with any options resolve or throw a one-line ManifestError (${RUNS} cases)`,
    async () => {
      const kinds: PartKind[] = ['riscv-cpu', 'riscv-irqchip', 'riscv-timer'];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...kinds), jsonValue.v, async (kind, options) => {
          const load = (): Promise<unknown> => Promise.reject(new Error('no loading in this test'));
          const pkg = BUILTIN_PARTS[kind].package;
          const opts = typeof options === 'object' && options !== null ? options : { engine: options };
          try {
            await resolvePart(kind, { package: pkg, options: opts as Record<string, unknown> }, kind, load);
          } catch (e) {
            checkError(e);
          }
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT,
  );

  it(
    `what a manifest puts in the device tree reads back exactly from the DTB (${RUNS} cases)`,
    () => {
      const accepted = fc
        .record({
          name: fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 })),
          cpus: fc.integer({ min: 0, max: 9 }),
          memory: fc.constantFrom('16M', '512M', '1G', '16G', 16 * 2 ** 20, 2 ** 34),
          cmdline: fc.oneof(
            fc.string({ maxLength: 200 }),
            fc.string({ unit: 'binary', maxLength: 200 }),
            fc.constantFrom('console=ttyS0 root=/dev/vda', 'a\0b', 'x'.repeat(2048)),
          ),
        })
        .map(({ name, cpus, memory, cmdline }) => ({ name, cpus, memory, boot: { cmdline } }));
      fc.assert(
        fc.property(accepted, fc.boolean(), (raw, withInitrd) => {
          let m;
          try {
            m = parseManifest(raw);
          } catch (e) {
            return checkError(e);
          }
          const dtb = buildFdt(
            buildDeviceTree({
              harts: m.cpus,
              isaExtensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr'],
              mmuType: 'riscv,sv39',
              ram: { base: 0x8000_0000, size: m.memory },
              soc: [],
              intcPhandle: (h) => 100 + h,
              bootargs: m.boot.cmdline,
              initrd: withInitrd ? { start: 0x8800_0000, end: 0x8900_0000 } : undefined,
              stdoutPath: '/soc/serial@10000000',
              reserveTrampolines: true,
              model: `virtio-desktop riscv64 (${m.name})`,
            }),
          );
          const props = readDtb(dtb);
          expect(props.get('/chosen/bootargs')).toBe(m.boot.cmdline);
          expect(props.get('/model')).toBe(`virtio-desktop riscv64 (${m.name})`);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT,
  );

  it('regression: deep nesting, newlines in keys, huge values and long sizes give one short line, fast', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (const t of [
      `{"machine":${deep}}`,
      `{"clock":${deep}}`,
      '{"a\\nb":1}',
      `{"machine":"${'x'.repeat(1_000_000)}"}`,
      `{"memory":"1${' '.repeat(100_000)}x"}`,
      '{"memory":1e400}',
      `{"boot":{"cmdline":"a\\u0000b"}}`,
    ])
      parsesOrRefuses(() => parseManifestText(t));
    expect(() => parseManifestText('{"memory":1e400}')).toThrow('memory: Infinity is not valid');
  });
});

/**
 * A small DTB reader for the checks above (the spec's chapter 5): header, then the structure block walked
 * token by token. Returns every string-valued property by path; throws on anything malformed.
 */
function readDtb(b: Uint8Array): Map<string, string> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  expect(dv.getUint32(0)).toBe(0xd00dfeed);
  expect(dv.getUint32(4)).toBe(b.length);
  const structOff = dv.getUint32(8);
  const stringsOff = dv.getUint32(12);
  const structSize = dv.getUint32(36);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const cstr = (at: number): [string, number] => {
    const end = b.indexOf(0, at);
    expect(end).toBeGreaterThanOrEqual(at);
    return [dec.decode(b.subarray(at, end)), end + 1];
  };
  const out = new Map<string, string>();
  const path: string[] = [];
  let p = structOff;
  for (;;) {
    expect(p).toBeLessThan(structOff + structSize);
    const tok = dv.getUint32(p);
    p += 4;
    if (tok === 1) {
      const [name, next] = cstr(p);
      path.push(name);
      p = (next + 3) & ~3;
    } else if (tok === 2) {
      expect(path.pop()).toBeDefined();
    } else if (tok === 3) {
      const len = dv.getUint32(p);
      const [name] = cstr(stringsOff + dv.getUint32(p + 4));
      const value = b.subarray(p + 8, p + 8 + len);
      // A string property is its bytes up to the first NUL, as the guest reads it.
      if (value.at(-1) === 0 && value.indexOf(0) === value.length - 1)
        out.set(
          `${path
            .slice(1)
            .map((n) => `/${n}`)
            .join('')}/${name}`,
          dec.decode(value.subarray(0, -1)),
        );
      p = (p + 8 + len + 3) & ~3;
    } else if (tok === 9) break;
    else if (tok !== 4) throw new Error(`bad FDT token ${tok} at ${p - 4}`);
  }
  expect(path).toEqual([]);
  return out;
}
