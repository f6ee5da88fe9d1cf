// Moved to @virtio-desktop/viewer; kept so the CLI's modules import it from one place.
export type { CursorImage, DisplaySource, InputSink, Rect, SharedScanout } from '@virtio-desktop/viewer';
