export { buildFdt, encodeValue } from './fdt.js';
export {
  ManifestError,
  baseManifestJsonSchema,
  manifestSchema,
  parseManifest,
  parseManifestText,
  type DeviceEntry,
  type Manifest,
  type ManifestInput,
} from './manifest.js';
export { RiscvMap, virtioSlotBase, virtioSlotIrq } from './memory-map.js';
export { resolvePart, resolvePlugin, type ModuleLoader, type PartEntry } from './plugins.js';
export { manifestJsonSchema, type SchemaPlugin } from './schema.js';
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
  isPartPlugin,
  type ClintPart,
  type ClockPart,
  type CpuPart,
  type HartPart,
  type HartSink,
  type IrqchipPart,
  type PartKind,
  type PartKinds,
  type PartPlugin,
  type PlicPart,
  type RiscvParts,
  type TimerPart,
} from './riscv/parts.js';
export { Sbi, SbiError, Eid as SbiExtension, type SbiHart, type SbiHost } from './riscv/sbi.js';
export { BootError, parseImageHeader, planLayout } from './riscv/boot.js';
export { buildDeviceTree, isaString } from './riscv/device-tree.js';
export {
  BUILTIN_PARTS,
  CPU_PACKAGE,
  IRQCHIP_PACKAGE,
  TIMER_PACKAGE,
  clintPlugin,
  combineParts,
  cpuRiscvPlugin,
  createRiscvParts,
  plicPlugin,
  type RiscvPartsOptions,
} from './riscv/default-parts.js';
export { CPU_ENGINES, type CpuEngine } from '@virtio-desktop/cpu-riscv';
export {
  RAM_SECTION_BYTES,
  SNAPSHOT_FORMAT,
  SNAPSHOT_MAGIC,
  canonicalJson,
  defaultCodec,
  manifestSha256,
  payloadSections,
  openSnapshot,
  readSnapshotFile,
  writeSnapshotFile,
  type OpenedSnapshot,
  type SnapshotCodec,
  type SnapshotHeader,
  type SnapshotSection,
} from './snapshot-file.js';
export type { SnapshotOptions } from './riscv/snapshot.js';
export { SnapshotError } from '@virtio-desktop/virtio-core';
