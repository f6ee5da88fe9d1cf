/**
 * @virtio-desktop/virtio-console: virtio-console with named ports (VIRTIO_CONSOLE_F_MULTIPORT) and the
 * clipboard channel to the guest agent (spec/clipboard.md).
 */
import { consolePlugin } from './plugin.js';

export * from './protocol.js';
export * from './framing.js';
export {
  ConsolePort,
  DEFAULT_MAX_PENDING,
  MAX_TX_BUFFER,
  VirtioConsoleDevice,
  type ConsoleDeviceOptions,
  type ConsolePortEvents,
  type ConsoleStats,
} from './device.js';
export { CLIPBOARD_PORT, ClipboardChannel, type ClipboardEvents } from './clipboard.js';
export { ClipboardConsole, consolePlugin, type ConsolePluginOptions } from './plugin.js';

export default consolePlugin;
