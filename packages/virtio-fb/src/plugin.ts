import {
  PluginOptionError,
  opt,
  parseSize,
  sizeJsonSchema,
  type DevicePlugin,
} from '@virtio-desktop/virtio-core';
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
/** A size by virtio-core's one rule ("256M", "1.5G", bytes); null when it is not one. */
export function parseByteSize(v: unknown): number | null {
  try {
    return parseSize(v);
  } catch {
    return null;
  }
}

/** The "virtio-fb" device plugin: a virtio-gpu 2D display. */
export const fbPlugin: DevicePlugin<FbPluginOptions, VirtioGpuDevice> = {
  name: 'virtio-fb',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      width: {
        type: 'integer',
        minimum: MIN_WIDTH,
        maximum: MAX_WIDTH,
        default: DEFAULT_WIDTH,
        description: 'Display width in pixels at boot.',
      },
      height: {
        type: 'integer',
        minimum: MIN_HEIGHT,
        maximum: MAX_HEIGHT,
        default: DEFAULT_HEIGHT,
        description: 'Display height in pixels at boot.',
      },
      maxResourceMemory: sizeJsonSchema(
        'Host memory the guest may use for display resources, from 1M to 16G (default 256M).',
      ),
    },
  },
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
