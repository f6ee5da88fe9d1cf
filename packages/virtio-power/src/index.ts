import { powerPlugin } from './plugin.js';

export {
  DEFAULT_FORCE_AFTER_MS,
  VirtioPowerDevice,
  type AckInfo,
  type AckKind,
  type HotplugAnnouncement,
  type InventoryProvider,
  type InventorySnapshot,
  type PowerDeviceEvents,
  type PowerDeviceOptions,
  type PowerVia,
} from './device.js';
export { powerPlugin, type PowerPluginOptions } from './plugin.js';
export * from './protocol.js';

export default powerPlugin;
