import { describe, expect, it } from 'vitest';
import { EDID_BLOCK_SIZE, computeTiming, generateEdid, parseEdid } from '../src/edid.js';

const SIZES: [number, number][] = [
  [320, 200],
  [640, 480],
  [1024, 768],
  [1280, 800],
  [1366, 768],
  [1920, 1080],
  [2560, 1440],
  [3840, 2160],
  [4095, 4095],
  [1001, 333],
];

describe('EDID', () => {
  for (const [w, h] of SIZES) {
    it(`describes a ${w}x${h} monitor in a valid EDID 1.4 block`, () => {
      const b = generateEdid(w, h)!;
      expect(b).toHaveLength(EDID_BLOCK_SIZE);
      const e = parseEdid(b)!;
      expect(e.headerOk).toBe(true);
      expect(e.checksumOk).toBe(true);
      expect(e.version).toBe('1.4');
      expect(e.manufacturer).toBe('VDK');
      expect(e.monitorName).toBe('virtio-desk');
      // Linux's mode_valid wants the preferred mode within 16 px of the display-info size: make it exact.
      expect(e.preferred.width).toBe(w);
      expect(e.preferred.height).toBe(h);
      expect(b[126]).toBe(0);
      expect(b[24] & 0x02).toBe(2); // preferred timing mode is native

      const t = computeTiming(w, h);
      expect(t.clock10kHz).toBeGreaterThan(0);
      expect(t.clock10kHz).toBeLessThanOrEqual(0xffff);
      expect(t.refresh).toBeGreaterThan(20);
      expect(t.refresh).toBeLessThanOrEqual(60.01);
      // drm_mode_detailed drops timings with a zero sync width.
      const d = b.subarray(54, 72);
      expect(d[9] | ((d[11] >> 4) & 3)).toBeGreaterThan(0);
      expect((d[10] & 0xf) | (d[11] & 3)).toBeGreaterThan(0);
      expect(d[17] & 0x18).toBe(0x18); // digital separate sync
      // Range limits enclose the preferred mode.
      const r = e.rangeLimits!;
      const hFreqKHz = e.preferred.clockKHz / e.preferred.hTotal;
      const vFreq = (e.preferred.clockKHz * 1000) / (e.preferred.hTotal * e.preferred.vTotal);
      expect(vFreq).toBeGreaterThanOrEqual(r.minV);
      expect(vFreq).toBeLessThanOrEqual(r.maxV);
      expect(hFreqKHz).toBeGreaterThanOrEqual(r.minHKHz);
      expect(hFreqKHz).toBeLessThanOrEqual(r.maxHKHz);
      expect(e.preferred.clockKHz / 1000).toBeLessThanOrEqual(r.maxClockMHz);
    });
  }

  it('gives 60 Hz where the clock fits and the screen size in cm at 96 dpi', () => {
    const t = computeTiming(1920, 1080);
    expect(Math.abs(t.refresh - 60)).toBeLessThan(0.05);
    const b = generateEdid(1920, 1080)!;
    expect(b[21]).toBe(51);
    expect(b[22]).toBe(29);
  });

  it('has no EDID for sizes a detailed timing cannot hold', () => {
    expect(generateEdid(4096, 2160)).toBeNull();
    expect(generateEdid(7680, 4320)).toBeNull();
    expect(generateEdid(63, 480)).toBeNull();
    expect(generateEdid(640.5, 480)).toBeNull();
  });

  it('a corrupted byte fails the checksum', () => {
    const b = generateEdid(800, 600)!;
    b[60] ^= 1;
    expect(parseEdid(b)!.checksumOk).toBe(false);
  });
});
