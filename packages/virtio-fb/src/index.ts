import { fbPlugin } from './plugin.js';

export {
  BACKING_SLACK,
  CURSOR_SIZE,
  DEFAULT_HEIGHT,
  DEFAULT_MAX_RESOURCES,
  DEFAULT_MAX_RESOURCE_MEMORY,
  DEFAULT_WIDTH,
  MAX_BACKING_ENTRIES,
  MAX_HEIGHT,
  MAX_WIDTH,
  MIN_HEIGHT,
  MIN_WIDTH,
  VirtioGpuDevice,
  validDisplaySize,
  type CursorEvent,
  type CursorMoveEvent,
  type DamageEvent,
  type DisplayChangeEvent,
  type GpuDeviceEvents,
  type GpuDeviceOptions,
  type ResizeEvent,
  type ScanoutInfo,
} from './device.js';
export { computeTiming, generateEdid, parseEdid, type DetailedTiming, type EdidSummary } from './edid.js';
export { formatHasAlpha, toRGBA, type ToRgbaOptions } from './format.js';
export { fbPlugin, parseByteSize, type FbPluginOptions } from './plugin.js';
export * from './protocol.js';

export default fbPlugin;
