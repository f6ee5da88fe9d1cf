export * from './bus.js';
export { Ram } from './ram.js';
export * from './constants.js';
export type { VirtioDevice, VirtioDeviceContext } from './device.js';
export { DescriptorChain, Virtqueue, type QueueLayout, type Segment } from './virtqueue.js';
export { MmioTransport, type MmioTransportOptions } from './mmio.js';
export {
  PluginOptionError,
  isDevicePlugin,
  opt,
  type DevicePlugin,
  type DevicePluginContext,
  type MachineInventory,
  type MachineInventoryDevice,
  type MachineServices,
} from './plugin.js';
export { SIZE_PATTERN, SizeError, formatSize, parseSize, sizeJsonSchema } from './size.js';
export { ConfigSpace } from './config-space.js';
export { DEFAULT_TURN_LIMITS, TurnMeter, TurnWorker, nextTurn, yieldTurn } from './turn.js';
export { StateReader, bytesOf, crc32, decodeState, encodeState, fillFrom } from './snapshot.js';
