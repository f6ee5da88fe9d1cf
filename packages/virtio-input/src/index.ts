export * from './protocol.js';
export * from './keymap.js';
export {
  VirtioInputDevice,
  MAX_PENDING_FRAMES,
  MAX_FRAME_EVENTS,
  type InputDeviceEvents,
  type InputStats,
} from './device.js';
export * from './profiles.js';
export { keyboardPlugin, pointerPlugin, touchPlugin, plugins, type InputPluginOptions } from './plugin.js';
import { plugins } from './plugin.js';
export default plugins;
