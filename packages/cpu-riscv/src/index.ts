export { Hart, StopReason, Access, CPU_ENGINES, type CpuEngine, type HartOptions } from './hart.js';
export { expandCompressed, RVC_TABLE } from './rvc.js';
export {
  allocateRam,
  adoptSharedRam,
  ramLayoutOf,
  type AllocateRamOptions,
  type RamLayout,
} from './memory.js';
export * as threads from './threads/index.js';
export { HART_STATE_VERSION, restoreHart, saveHart } from './snapshot.js';
