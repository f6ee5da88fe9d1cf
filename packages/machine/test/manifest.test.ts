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
    expect(parseManifest({ memory: 64 }).memory).toBe(64 * 1024 ** 2);
  });

  it('gives one line naming the place of each mistake', () => {
    expect(bad({ memory: 'lots' })).toBe('m.json: memory: use a size like "512M" or "2G"');
    expect(bad({ memory: '1K' })).toContain('memory must be between 16M and 16G');
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
      expect.arrayContaining(['memory', 'cpus', 'boot', 'devices', 'clock']),
    );
  });
});
