/**
 * The "virtio-blk" device plugin. Browser-safe: the Node file backend is loaded with a dynamic import
 * only when `image` is set, through a specifier bundlers leave alone, so a browser bundle never pulls in
 * node:fs.
 */
import {
  PluginOptionError,
  SizeError,
  formatSize,
  opt,
  parseSize as parseAnySize,
  sizeJsonSchema,
  type DevicePlugin,
  type DevicePluginContext,
} from '@virtio-desktop/virtio-core';
import { MAX_MEMORY_DISK, MemoryBackend, OverlayBackend, type BlockBackend } from './backend.js';
import { VirtioBlkDevice } from './device.js';

export interface BlkPluginOptions {
  /** Disk size in bytes: a RAM disk, or the size of a new image file. */
  size?: number;
  /** Raw image file (Node only), relative to the manifest's directory. */
  image?: string;
  readOnly: boolean;
  /** Copy-on-write in memory over the image; the file is opened read-only and never changed. */
  overlay: boolean;
  serial?: string;
  blockSize: number;
}

/** A disk size by virtio-core's size rule ("64M", "1.5G", bytes), a positive multiple of 512 up to 16T. */
export function parseSize(v: unknown, key = 'size'): number {
  let bytes: number;
  try {
    bytes = parseAnySize(v);
  } catch (e) {
    if (e instanceof SizeError) throw new PluginOptionError(`option "${key}": ${e.message}`);
    throw e;
  }
  if (bytes <= 0 || bytes % 512 !== 0 || bytes > MAX_MEMORY_DISK)
    throw new PluginOptionError(
      `option "${key}" must be a positive multiple of 512 bytes up to ${formatSize(MAX_MEMORY_DISK)}`,
    );
  return bytes;
}

/** JSON Schema of the options, for editors (folded into the machine's manifest schema). */
export const blkOptionsSchema: Readonly<Record<string, unknown>> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    size: sizeJsonSchema('Disk size: a RAM disk of this size, or the size of a new image file.'),
    image: {
      type: 'string',
      minLength: 1,
      description: 'Raw disk image file (Node only), relative to the manifest; created when size is set.',
    },
    readOnly: { type: 'boolean', default: false, description: 'The guest cannot write the disk.' },
    overlay: {
      type: 'boolean',
      default: false,
      description: 'Writes go to memory over the image, which is opened read-only and never changed.',
    },
    serial: {
      type: 'string',
      maxLength: 20,
      description: 'Serial number the guest reads (at most 20 printable ASCII characters).',
    },
    blockSize: {
      enum: [512, 1024, 2048, 4096],
      default: 512,
      description: 'Logical block size in bytes.',
    },
  },
};

export function parseBlkOptions(raw: unknown): BlkPluginOptions {
  const o = opt.object(raw);
  opt.only(o, ['size', 'image', 'readOnly', 'overlay', 'serial', 'blockSize']);
  const blockSize = opt.int(o, 'blockSize', 512, 512, 4096);
  if ((blockSize & (blockSize - 1)) !== 0)
    throw new PluginOptionError('option "blockSize" must be 512, 1024, 2048 or 4096');
  const size = o.size === undefined ? undefined : parseSize(o.size);
  if (size !== undefined && size % blockSize !== 0)
    throw new PluginOptionError(`option "size" must be a multiple of blockSize (${blockSize})`);
  const image = o.image === undefined ? undefined : opt.string(o, 'image');
  if (image === '') throw new PluginOptionError('option "image" must be a non-empty path');
  const readOnly = opt.bool(o, 'readOnly', false);
  const overlay = opt.bool(o, 'overlay', false);
  const serial = o.serial === undefined ? undefined : opt.string(o, 'serial');
  if (serial !== undefined && (serial.length > 20 || !/^[\x20-\x7e]*$/.test(serial)))
    throw new PluginOptionError('option "serial" must be at most 20 printable ASCII characters');
  if (image === undefined && size === undefined)
    throw new PluginOptionError('set "size" (a RAM disk, e.g. "64M") or "image" (a raw disk image file)');
  if (overlay && image === undefined) throw new PluginOptionError('option "overlay" needs "image"');
  if (overlay && readOnly)
    throw new PluginOptionError(
      'options "overlay" and "readOnly" exclude each other (overlay is a writable copy)',
    );
  return { size, image, readOnly, overlay, serial, blockSize };
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** A variable, not a literal: bundlers then leave the Node-only entry out of browser builds. */
const NODE_ENTRY = './node.js';

async function openBackend(o: BlkPluginOptions, ctx: DevicePluginContext): Promise<BlockBackend> {
  if (o.image === undefined) return new MemoryBackend({ size: o.size!, readOnly: o.readOnly });
  if (!isNode())
    throw new Error('"image" needs Node; in a browser pass a backend to VirtioBlkDevice instead');
  const node = (await import(
    /* @vite-ignore */ /* webpackIgnore: true */ NODE_ENTRY
  )) as typeof import('./node.js');
  const file = await node.FileBackend.open(o.image, {
    readOnly: o.readOnly || o.overlay,
    size: o.size,
    baseDir: ctx.baseDir,
  });
  return o.overlay ? new OverlayBackend(file) : file;
}

export const virtioBlkPlugin: DevicePlugin<BlkPluginOptions, VirtioBlkDevice> = {
  name: 'virtio-blk',
  optionsSchema: blkOptionsSchema,
  parseOptions: parseBlkOptions,
  async create(o, ctx) {
    const backend = await openBackend(o, ctx);
    try {
      return new VirtioBlkDevice({
        backend,
        readOnly: o.readOnly,
        serial: o.serial,
        blockSize: o.blockSize,
        log: ctx.log,
      });
    } catch (e) {
      await backend.close?.();
      throw e;
    }
  },
};
