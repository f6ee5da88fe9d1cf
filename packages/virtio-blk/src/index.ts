/**
 * @virtio-desktop/virtio-blk: a virtio-blk device model with pluggable storage. Browser-safe; the Node
 * file backend lives in "@virtio-desktop/virtio-blk/node" and the OPFS one in ".../browser".
 */
import { virtioBlkPlugin } from './plugin.js';

export {
  MemoryBackend,
  OverlayBackend,
  MAX_MEMORY_DISK,
  type BlockBackend,
  type MemoryBackendOptions,
  type OverlayBackendOptions,
} from './backend.js';
export { VirtioBlkDevice, type VirtioBlkOptions, type BlkStats } from './device.js';
export {
  BlkConfig,
  BlkFeature,
  BlkStatus,
  BlkType,
  DISCARD_SEGMENT_SIZE,
  HEADER_SIZE,
  ID_BYTES,
  SECTOR_SIZE,
  WRITE_ZEROES_FLAG_UNMAP,
} from './constants.js';
export {
  blkOptionsSchema,
  parseBlkOptions,
  parseSize,
  virtioBlkPlugin,
  type BlkPluginOptions,
} from './plugin.js';

export default virtioBlkPlugin;
