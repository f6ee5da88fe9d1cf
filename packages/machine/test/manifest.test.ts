import { describe, expect, it } from 'vitest';
import { ManifestError, manifestJsonSchema, parseManifest, parseManifestText } from '../src/index.js';

const bad = (raw: unknown) => {
  try {
    parseManifest(raw, 'm.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    const msg = (e as Error).message;
    expect(msg.includes('\n')).toBe(false);
    return msg;
  }
  throw new Error('accepted');
};

describe('manifest', () => {
  it('fills defaults', () => {
    const m = parseManifest({});
    expect(m.memory).toBe(512 * 1024 * 1024);
    expect(m.cpus).toBe(1);
    expect(m.boot.firmware).toBe('sbi');
    expect(m.devices).toEqual([]);
  });

  it('parses sizes', () => {
    expect(parseManifest({ memory: '2G' }).memory).toBe(2 * 1024 ** 3);
    expect(parseManifest({ memory: '256MiB' }).memory).toBe(256 * 1024 ** 2);
    // virtio-core's one size rule: fractions, and a number is bytes.
    expect(parseManifest({ memory: '1.5G' }).memory).toBe(1.5 * 1024 ** 3);
    expect(parseManifest({ memory: 64 * 1024 ** 2 }).memory).toBe(64 * 1024 ** 2);
    expect(bad({ memory: 512 })).toBe(
      'm.json: memory: memory must be from 16M to 16G, not 512 (a number is bytes: "512M" is 512 MiB)',
    );
  });

  it("says what is wrong in its own words, not zod's", () => {
    expect(bad({ cpus: 9 })).toBe('m.json: cpus: 9 is more than 8');
    expect(bad({ cpus: 0 })).toBe('m.json: cpus: 0 is less than 1');
    expect(bad({ cpus: 1.5 })).toBe('m.json: cpus: 1.5 is not a whole number');
    expect(bad({ cpus: '2' })).toBe('m.json: cpus: must be a number, not a string');
    expect(bad({ clock: 'fast' })).toBe('m.json: clock: must be "wall" or "instructions", not "fast"');
    expect(bad({ devices: [{}] })).toBe('m.json: devices[0].package: missing (string required)');
    expect(bad({ memory: '1.5.5G' })).toBe(
      'm.json: memory: "1.5.5G" is not a size: use bytes or e.g. "512M", "1.5G"',
    );
    expect(bad({ uuid: 'nope' })).toBe('m.json: uuid: "nope" is not a valid uuid');
    expect(bad({ devices: [{ package: 'a', id: 'Bad Id' }] })).toBe(
      'm.json: devices[0].id: "Bad Id" is not an id: use lowercase letters, digits and dashes, at most 32',
    );
  });

  it('gives one line naming the place of each mistake', () => {
    expect(bad({ memory: 'lots' })).toBe(
      'm.json: memory: "lots" is not a size: use bytes or e.g. "512M", "1.5G"',
    );
    expect(bad({ memory: '1K' })).toBe('m.json: memory: memory must be from 16M to 16G, not 1K');
    expect(bad({ memory: '16.5M' })).toBe('m.json: memory: memory must be a whole number of MiB, not 16896K');
    expect(bad({ cpus: 0 })).toMatch(/^m\.json: cpus: /);
    expect(bad({ machine: 'x86' })).toMatch(/^m\.json: machine: /);
    expect(bad({ devices: [{}] })).toMatch(/^m\.json: devices\[0\]\.package: /);
    expect(bad({ devices: [{ package: 'x', colour: 1 }] })).toBe('m.json: devices[0]: unknown key "colour"');
    expect(bad({ bogus: 1 })).toBe('m.json: (top level): unknown key "bogus"');
    expect(
      bad({
        devices: [
          { package: 'a', id: 'd' },
          { package: 'b', id: 'd' },
        ],
      }),
    ).toContain('used twice');
    expect(bad({ devices: [{ package: 'a', id: 'Bad Id' }] })).toMatch(/devices\[0\]\.id/);
    expect(bad(Array.from({ length: 0 }))).toMatch(/\(top level\)/);
  });

  it('reports bad JSON in one line', () => {
    expect(() => parseManifestText('{"a":', 'x.json')).toThrow(/^x\.json: not valid JSON/);
  });

  it('exports a JSON schema', () => {
    const s = manifestJsonSchema() as { properties: Record<string, unknown> };
    expect(Object.keys(s.properties)).toEqual(
      expect.arrayContaining(['memory', 'cpus', 'boot', 'devices', 'clock', 'cpu', 'irqchip', 'timer']),
    );
  });
});
