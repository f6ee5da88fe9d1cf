/**
 * Browser entry of @virtio-desktop/viewer: everything of the main entry, and the canvas client that
 * draws a machine's screen and sends a page's input (it needs the DOM).
 */
export * from './index.js';
export { CanvasClient, type CanvasClientOptions, type CanvasClientState } from './canvas.js';
export { PageClipboard } from './clipboard.js';
