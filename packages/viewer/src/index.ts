/**
 * @virtio-desktop/viewer: what a screen and its input need between a machine and a page — the
 * DisplaySource / InputSink interfaces, the viewer wire protocol, US-layout key synthesis, the
 * virtio-fb adapter and the client-message dispatcher. Runs in browsers and Node (no Node built-ins);
 * the canvas client is in "@virtio-desktop/viewer/browser".
 */
export type { CursorImage, DisplaySource, InputSink, Rect, SharedScanout } from './display.js';
export {
  CLIPBOARD_PIECE,
  Encoding,
  MAX_CLIPBOARD,
  MAX_TEXT,
  MsgType,
  decodeServerMessage,
  encodeClipboard,
  encodeCursor,
  encodeMove,
  encodeRect,
  encodeResize,
  parseClientMessage,
  type ClientMessage,
  type ServerMessage,
} from './protocol.js';
export {
  ClipboardAssembler,
  clipboardMessages,
  type ClipboardSource,
  type PageClipboardOptions,
} from './clipboard.js';
export { KeyTranslator, Mod, keyAction, type KeyAction } from './keys.js';
export { FbDisplaySource } from './fb-source.js';
export {
  InputDispatcher,
  MAX_SIZE,
  MAX_TEXT_WAITING,
  MIN_SIZE,
  type InputDispatcherOptions,
} from './dispatch.js';
export { viewerPage } from './page.js';
