import { describe, expect, it } from 'vitest';
import {
  ConfigSpace,
  PluginOptionError,
  SIZE_PATTERN,
  SizeError,
  formatSize,
  parseSize,
  type GuestMemory,
} from '../src/index.js';
import { VirtioTestDriver } from '../src/testing.js';

describe('parseSize: the one size rule', () => {
  it('numbers are bytes; strings take K/M/G/T (1024s), fractions and iB/B', () => {
    expect(parseSize(512)).toBe(512);
    expect(parseSize('512')).toBe(512);
    expect(parseSize('512M')).toBe(512 * 2 ** 20);
    expect(parseSize('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseSize('64MiB')).toBe(64 * 2 ** 20);
    expect(parseSize(' 2 gb ')).toBe(2 * 2 ** 30);
    expect(parseSize('1T')).toBe(2 ** 40);
    expect(parseSize('1.5K')).toBe(1536);
    expect(parseSize('100b')).toBe(100);
  });
  it('refuses what is not a whole number of bytes, with one line', () => {
    for (const bad of ['0.3K', 'lots', '1.5', -1, 1.5, '12Q', '', null, {}, '9999999999T'])
      expect(() => parseSize(bad), String(bad)).toThrow(SizeError);
    expect(() => parseSize('lots')).toThrow('"lots" is not a size: use bytes or e.g. "512M", "1.5G"');
  });
  it('SIZE_PATTERN accepts exactly the strings parseSize reads as a unit form', () => {
    const re = new RegExp(SIZE_PATTERN);
    for (const ok of ['512M', '1.5G', '64MiB', '4096', '2gb']) expect(re.test(ok), ok).toBe(true);
    for (const bad of ['lots', '1.5.5G', 'M', '12Q']) expect(re.test(bad), bad).toBe(false);
  });
  it('formatSize writes the shortest exact form', () => {
    expect(formatSize(512 * 2 ** 20)).toBe('512M');
    expect(formatSize(2 ** 30)).toBe('1G');
    expect(formatSize(1536)).toBe('1536');
  });
});

describe('ConfigSpace', () => {
  it('reads any width little-endian; outside reads 0; writes split into bytes', () => {
    const c = new ConfigSpace(8);
    c.set32(0, 0x11223344);
    c.set16(4, 0xabcd);
    expect(c.read(0, 4)).toBe(0x11223344);
    expect(c.read(1, 2)).toBe(0x2233);
    expect(c.read(4, 2)).toBe(0xabcd);
    expect(c.read(6, 4)).toBe(0);
    expect(c.read(100, 4)).toBe(0);
    c.set64(0, 2 ** 40 + 5);
    expect(c.read(0, 4)).toBe(5);
    expect(c.read(4, 4)).toBe(256);
    const seen: [number, number][] = [];
    ConfigSpace.splitWrite(2, 2, 0xbeef, (o, b) => seen.push([o, b]));
    expect(seen).toEqual([
      [2, 0xef],
      [3, 0xbe],
    ]);
  });
});

describe('PluginOptionError brand', () => {
  it('instanceof holds for an error from a second copy of virtio-core', async () => {
    // A query string makes vite load the module again: another class, as a second installed copy is.
    // @ts-expect-error: TypeScript does not resolve module ids with a query
    const copy = (await import('../src/plugin.js?second-copy')) as typeof import('../src/plugin.js');
    expect(copy.PluginOptionError).not.toBe(PluginOptionError);
    const e = new copy.PluginOptionError('size must be positive');
    expect(e instanceof PluginOptionError).toBe(true);
    expect(new PluginOptionError('x') instanceof copy.PluginOptionError).toBe(true);
    expect(new Error('x') instanceof PluginOptionError).toBe(false);
    expect((null as unknown as object) instanceof PluginOptionError).toBe(false);
  });
});

describe('VirtioTestDriver', () => {
  it('takes any GuestMemory, not only Ram', () => {
    const bytes = new Uint8Array(4096);
    const dv = new DataView(bytes.buffer);
    const inside = (a: number, n: number) => a >= 0 && a + n <= bytes.length;
    const mem: GuestMemory = {
      base: 0,
      size: bytes.length,
      contains: inside,
      view: (a, n) => (inside(a, n) ? bytes.subarray(a, a + n) : null),
      read: (a, d) => (inside(a, d.length) ? (d.set(bytes.subarray(a, a + d.length)), true) : false),
      write: (a, s) => (inside(a, s.length) ? (bytes.set(s, a), true) : false),
      readU16: (a) => (inside(a, 2) ? dv.getUint16(a, true) : -1),
      readU32: (a) => (inside(a, 4) ? dv.getUint32(a, true) : -1),
      readU64: (a) => (inside(a, 8) ? Number(dv.getBigUint64(a, true)) : -1),
      writeU16: (a, v) => (inside(a, 2) ? (dv.setUint16(a, v, true), true) : false),
      writeU32: (a, v) => (inside(a, 4) ? (dv.setUint32(a, v, true), true) : false),
    };
    const bus = { name: 'x', size: 0x1000, read: () => 0, write: () => {}, reset: () => {} };
    const drv = new VirtioTestDriver(bus, mem, 0);
    expect(drv.ram).toBe(mem);
  });
});

describe('parseSize on hostile input', () => {
  it('refuses a long string at once instead of backtracking over it', () => {
    const t0 = performance.now();
    expect(() => parseSize('1' + ' '.repeat(1 << 20) + 'x')).toThrow(/too long/);
    expect(performance.now() - t0).toBeLessThan(50);
  });
});
