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
export {
  RiscvMachine,
  type BootImages,
  type ExitReason,
  type MachineEvents,
  type PowerDeviceLike,
  type RiscvMachineOptions,
} from './riscv/machine.js';
export {
  Mip,
  StopReason,
  type ClintPart,
  type ClockPart,
  type HartPart,
  type HartSink,
  type PlicPart,
  type RiscvParts,
} from './riscv/parts.js';
export { Sbi, SbiError, Eid as SbiExtension, type SbiHart, type SbiHost } from './riscv/sbi.js';
export { BootError, parseImageHeader, planLayout } from './riscv/boot.js';
export { buildDeviceTree, isaString } from './riscv/device-tree.js';
export { createRiscvParts, type RiscvPartsOptions } from './riscv/default-parts.js';
export { CPU_ENGINES, type CpuEngine } from '@virtio-desktop/cpu-riscv';
