/**
 * A 128-byte EDID 1.4 base block describing a virtual monitor whose preferred (and only) mode is exactly
 * the requested size. Linux's virtio-gpu connector prefers EDID modes over its own list, and its
 * mode_valid accepts a preferred mode only within 16 pixels of the size in GET_DISPLAY_INFO, so the
 * detailed timing must carry the exact width and height.
 */

export const EDID_BLOCK_SIZE = 128;
/** A detailed timing descriptor holds 12-bit active sizes; larger modes get no EDID at all. */
export const EDID_MAX_ACTIVE = 4095;
/** Three letters packed into five bits each; not in Linux's EDID quirk table. */
export const EDID_MANUFACTURER = 'VDK';
export const EDID_PRODUCT = 0x0001;
export const EDID_MONITOR_NAME = 'virtio-desk';
const DPI = 96;
/** The DTD pixel clock is 16 bits of 10 kHz. */
const MAX_CLOCK_10KHZ = 0xffff;

export interface DetailedTiming {
  /** Pixel clock in units of 10 kHz, as the EDID stores it. */
  clock10kHz: number;
  hActive: number;
  hFront: number;
  hSync: number;
  hBlank: number;
  vActive: number;
  vFront: number;
  vSync: number;
  vBlank: number;
  widthMm: number;
  heightMm: number;
  /** The refresh rate the rounded clock gives, in Hz. */
  refresh: number;
}

/** CVT's vsync width by aspect ratio; 10 marks a non-standard aspect. */
function vsyncFor(w: number, h: number): number {
  if (w * 3 === h * 4) return 4;
  if (w * 9 === h * 16) return 5;
  if (w * 10 === h * 16) return 6;
  if (w * 4 === h * 5 || w * 9 === h * 15) return 7;
  return 10;
}

/**
 * Timings in the spirit of CVT reduced blanking (v1): a fixed 160-pixel horizontal blank and a vertical
 * blank of at least 460 µs. Nothing scans these out; they only have to be self-consistent and parse. Large
 * modes lower the refresh so the clock fits the DTD's 16-bit field.
 */
export function computeTiming(width: number, height: number, refresh = 60): DetailedTiming {
  const hFront = 48;
  const hSync = 32;
  const hBlank = 160;
  const vFront = 3;
  const vSync = vsyncFor(width, height);
  const linePeriodUs = (1e6 / refresh - 460) / height;
  const vBlank = Math.max(Math.ceil(460 / linePeriodUs), vFront + vSync + 6);
  const hTotal = width + hBlank;
  const vTotal = height + vBlank;
  const clock10kHz = Math.max(1, Math.min(MAX_CLOCK_10KHZ, Math.floor((hTotal * vTotal * refresh) / 10_000)));
  return {
    clock10kHz,
    hActive: width,
    hFront,
    hSync,
    hBlank,
    vActive: height,
    vFront,
    vSync,
    vBlank,
    widthMm: Math.round((width * 25.4) / DPI),
    heightMm: Math.round((height * 25.4) / DPI),
    refresh: (clock10kHz * 10_000) / (hTotal * vTotal),
  };
}

function writeDtd(b: Uint8Array, off: number, t: DetailedTiming): void {
  b[off] = t.clock10kHz & 0xff;
  b[off + 1] = t.clock10kHz >> 8;
  b[off + 2] = t.hActive & 0xff;
  b[off + 3] = t.hBlank & 0xff;
  b[off + 4] = ((t.hActive >> 8) << 4) | (t.hBlank >> 8);
  b[off + 5] = t.vActive & 0xff;
  b[off + 6] = t.vBlank & 0xff;
  b[off + 7] = ((t.vActive >> 8) << 4) | (t.vBlank >> 8);
  b[off + 8] = t.hFront & 0xff;
  b[off + 9] = t.hSync & 0xff;
  b[off + 10] = ((t.vFront & 0xf) << 4) | (t.vSync & 0xf);
  b[off + 11] = ((t.hFront >> 8) << 6) | ((t.hSync >> 8) << 4) | ((t.vFront >> 4) << 2) | (t.vSync >> 4);
  b[off + 12] = t.widthMm & 0xff;
  b[off + 13] = t.heightMm & 0xff;
  b[off + 14] = ((t.widthMm >> 8) << 4) | (t.heightMm >> 8);
  b[off + 15] = 0;
  b[off + 16] = 0;
  // Digital separate sync, +hsync -vsync: CVT's reduced-blanking polarity.
  b[off + 17] = 0x1a;
}

/** A display descriptor: tag, then 13 bytes of text ended by LF and padded with spaces. */
function writeTextDescriptor(b: Uint8Array, off: number, tag: number, text: string): void {
  b.fill(0, off, off + 5);
  b[off + 3] = tag;
  const body = b.subarray(off + 5, off + 18);
  body.fill(0x20);
  const s = text.slice(0, 13);
  for (let i = 0; i < s.length; i++) body[i] = s.charCodeAt(i) & 0x7f;
  if (s.length < 13) body[s.length] = 0x0a;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Chromaticity coordinates as 10-bit binary fractions. */
function chroma(v: number): number {
  return Math.round(v * 1024);
}

/** The EDID for a `width` x `height` monitor, or null when the size does not fit a DTD. */
export function generateEdid(width: number, height: number): Uint8Array | null {
  if (!Number.isInteger(width) || !Number.isInteger(height)) return null;
  if (width < 64 || height < 64 || width > EDID_MAX_ACTIVE || height > EDID_MAX_ACTIVE) return null;
  const t = computeTiming(width, height);
  const b = new Uint8Array(EDID_BLOCK_SIZE);
  b.set([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00], 0);
  const m = EDID_MANUFACTURER;
  const id = ((m.charCodeAt(0) - 64) << 10) | ((m.charCodeAt(1) - 64) << 5) | (m.charCodeAt(2) - 64);
  b[8] = id >> 8; // big-endian, unlike everything else
  b[9] = id & 0xff;
  b[10] = EDID_PRODUCT & 0xff;
  b[11] = EDID_PRODUCT >> 8;
  // Serial number 12..15 stays 0 (none); a descriptor would be needed to give one.
  b[16] = 1; // week
  b[17] = 2024 - 1990;
  b[18] = 1;
  b[19] = 4;
  b[20] = 0xa0; // digital input, 8 bits per colour, interface undefined
  b[21] = clamp(Math.round(t.widthMm / 10), 1, 255);
  b[22] = clamp(Math.round(t.heightMm / 10), 1, 255);
  b[23] = 120; // gamma 2.2
  // No DPMS, RGB 4:4:4, sRGB is the default colour space, preferred timing is native; not continuous.
  b[24] = 0x06;
  // sRGB primaries and D65 white point.
  const c = [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329].map(chroma);
  b[25] = ((c[0] & 3) << 6) | ((c[1] & 3) << 4) | ((c[2] & 3) << 2) | (c[3] & 3);
  b[26] = ((c[4] & 3) << 6) | ((c[5] & 3) << 4) | ((c[6] & 3) << 2) | (c[7] & 3);
  for (let i = 0; i < 8; i++) b[27 + i] = c[i] >> 2;
  // 35..37: no established timings. 38..53: eight unused standard timings.
  for (let i = 38; i < 54; i++) b[i] = 0x01;

  writeDtd(b, 54, t);

  const hFreqKHz = (t.clock10kHz * 10) / (t.hActive + t.hBlank);
  const r = 72;
  b[r + 3] = 0xfd;
  b[r + 5] = clamp(Math.min(24, Math.floor(t.refresh)), 1, 255);
  b[r + 6] = clamp(Math.max(75, Math.ceil(t.refresh)), 1, 255);
  b[r + 7] = clamp(Math.min(30, Math.floor(hFreqKHz)), 1, 255);
  b[r + 8] = clamp(Math.max(160, Math.ceil(hFreqKHz)), 1, 255);
  b[r + 9] = clamp(Math.ceil(t.clock10kHz / 1000), 1, 255); // units of 10 MHz
  b[r + 10] = 0x01; // range limits only
  b[r + 11] = 0x0a;
  b.fill(0x20, r + 12, r + 18);

  writeTextDescriptor(b, 90, 0xfc, EDID_MONITOR_NAME);
  b[108 + 3] = 0x10; // dummy descriptor
  b[126] = 0; // no extension blocks
  let sum = 0;
  for (let i = 0; i < 127; i++) sum += b[i];
  b[127] = (256 - (sum & 0xff)) & 0xff;
  return b;
}

/** What a parser reads back: enough for tests and front ends to check an EDID. */
export interface EdidSummary {
  checksumOk: boolean;
  headerOk: boolean;
  version: string;
  manufacturer: string;
  product: number;
  preferred: { width: number; height: number; clockKHz: number; hTotal: number; vTotal: number };
  monitorName: string | null;
  rangeLimits: { minV: number; maxV: number; minHKHz: number; maxHKHz: number; maxClockMHz: number } | null;
}

export function parseEdid(b: Uint8Array): EdidSummary | null {
  if (b.length < EDID_BLOCK_SIZE) return null;
  let sum = 0;
  for (let i = 0; i < EDID_BLOCK_SIZE; i++) sum += b[i];
  const header = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
  const id = (b[8] << 8) | b[9];
  const letter = (v: number): string => String.fromCharCode(64 + (v & 0x1f));
  const d = 54;
  const w = ((b[d + 4] >> 4) << 8) | b[d + 2];
  const h = ((b[d + 7] >> 4) << 8) | b[d + 5];
  const hBlank = ((b[d + 4] & 0xf) << 8) | b[d + 3];
  const vBlank = ((b[d + 7] & 0xf) << 8) | b[d + 6];
  let monitorName: string | null = null;
  let rangeLimits: EdidSummary['rangeLimits'] = null;
  for (let off = 72; off < 126; off += 18) {
    if (b[off] !== 0 || b[off + 1] !== 0) continue;
    if (b[off + 3] === 0xfc) {
      monitorName = String.fromCharCode(...b.subarray(off + 5, off + 18))
        .split('\n')[0]
        .trimEnd();
    } else if (b[off + 3] === 0xfd) {
      rangeLimits = {
        minV: b[off + 5],
        maxV: b[off + 6],
        minHKHz: b[off + 7],
        maxHKHz: b[off + 8],
        maxClockMHz: b[off + 9] * 10,
      };
    }
  }
  return {
    checksumOk: (sum & 0xff) === 0,
    headerOk: header.every((v, i) => b[i] === v),
    version: `${b[18]}.${b[19]}`,
    manufacturer: letter(id >> 10) + letter(id >> 5) + letter(id),
    product: b[10] | (b[11] << 8),
    preferred: {
      width: w,
      height: h,
      clockKHz: (b[d] | (b[d + 1] << 8)) * 10,
      hTotal: w + hBlank,
      vTotal: h + vBlank,
    },
    monitorName,
    rangeLimits,
  };
}
