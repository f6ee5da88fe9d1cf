import { PluginOptionError, opt, type DevicePlugin } from '@virtio-desktop/virtio-core';
import {
  DEFAULT_HEIGHT,
  DEFAULT_MAX_RESOURCE_MEMORY,
  DEFAULT_WIDTH,
  MAX_HEIGHT,
  MAX_WIDTH,
  MIN_HEIGHT,
  MIN_WIDTH,
  VirtioGpuDevice,
} from './device.js';

export interface FbPluginOptions {
  width: number;
  height: number;
  /** Bytes. */
  maxResourceMemory: number;
}

const MIN_MEMORY = 1024 * 1024;
const MAX_MEMORY = 16 * 1024 * 1024 * 1024;
const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "256M", "1G", "512MiB", "65536" or a number of bytes; null when it is none of these. */
export function parseByteSize(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$/i.exec(v);
  if (!m) return null;
  const n = Number(m[1]) * UNITS[m[2].toLowerCase()];
  return Number.isSafeInteger(n) ? n : null;
}

/** The "virtio-fb" device plugin: a virtio-gpu 2D display. */
export const fbPlugin: DevicePlugin<FbPluginOptions, VirtioGpuDevice> = {
  name: 'virtio-fb',
  parseOptions(raw: unknown): FbPluginOptions {
    const o = opt.object(raw);
    opt.only(o, ['width', 'height', 'maxResourceMemory']);
    const width = opt.int(o, 'width', DEFAULT_WIDTH, MIN_WIDTH, MAX_WIDTH);
    const height = opt.int(o, 'height', DEFAULT_HEIGHT, MIN_HEIGHT, MAX_HEIGHT);
    const mem = parseByteSize(o.maxResourceMemory ?? DEFAULT_MAX_RESOURCE_MEMORY);
    if (mem === null || mem < MIN_MEMORY || mem > MAX_MEMORY)
      throw new PluginOptionError(
        'option "maxResourceMemory" must be a size from 1M to 16G, e.g. "256M" or 268435456',
      );
    if (mem < width * height * 4)
      throw new PluginOptionError(
        `option "maxResourceMemory" must hold at least one ${width}x${height} frame (${width * height * 4} bytes)`,
      );
    return { width, height, maxResourceMemory: mem };
  },
  create(options, ctx) {
    return new VirtioGpuDevice({ ...options, log: ctx.log });
  },
};
