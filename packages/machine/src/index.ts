export { buildFdt, encodeValue } from './fdt.js';
export {
  ManifestError,
  manifestJsonSchema,
  manifestSchema,
  parseManifest,
  parseManifestText,
  type DeviceEntry,
  type Manifest,
  type ManifestInput,
} from './manifest.js';
export { RiscvMap, virtioSlotBase, virtioSlotIrq } from './memory-map.js';
export { resolvePlugin, type ModuleLoader } from './plugins.js';
export { SystemBus } from './system-bus.js';
export { VirtioSlots, type InterruptSource, type PlacedDevice, type SlotContext } from './virtio-slots.js';
export { Uart16550 } from './platform/uart16550.js';
export { TestFinisher, type FinisherAction } from './platform/test-finisher.js';
