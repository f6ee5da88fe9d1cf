/**
 * What the viewer needs from a machine, as two small interfaces, so the viewer knows nothing of virtio-fb
 * or virtio-input and any other front end (VNC, an in-browser machine) can use the same sources.
 */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface CursorImage {
  width: number;
  height: number;
  hotX: number;
  hotY: number;
  rgba: Uint8Array;
}

/**
 * The guest's screen in its own memory: `height` rows of `width` 4-byte pixels, row y at byte
 * `offset + y * stride` of `buffer`, green the second byte, red the first (or, with `swapRB`, the third);
 * the fourth byte is ignored (the screen is opaque). It changes under the reader (the guest draws);
 * each change comes with its damage.
 */
export interface SharedScanout {
  buffer: SharedArrayBuffer;
  offset: number;
  stride: number;
  width: number;
  height: number;
  swapRB: boolean;
}

export interface DisplaySource {
  /** Current mode, or null while the guest shows nothing. */
  size(): { width: number; height: number } | null;
  /** A copy of a rectangle of the screen as RGBA (alpha 255); the rect is inside the current size. */
  readRGBA(r: Rect): Uint8Array;
  /**
   * Optional: the whole screen as RGBA in shared memory (rows of `width` pixels), which the viewer's
   * encoder worker reads rectangles from itself; null while there is none.
   */
  sharedRGBA?(): { buffer: SharedArrayBuffer; width: number; height: number } | null;
  /**
   * Optional, preferred over sharedRGBA: the screen as the guest keeps it, in shared memory, which the
   * encoder worker converts itself (only the frames it sends); null while there is none.
   */
  sharedScanout?(): SharedScanout | null;
  /** Subscriptions; each returns a function that unsubscribes. */
  onResize(cb: (width: number, height: number) => void): () => void;
  onDamage(cb: (r: Rect) => void): () => void;
  onCursor(cb: (c: CursorImage | null) => void): () => void;
  onCursorMove(cb: (x: number, y: number, visible: boolean) => void): () => void;
  /** Ask the guest for a new mode (it may refuse or pick another). */
  requestSize(width: number, height: number): void;
}

export interface InputSink {
  /** A physical key by its DOM `KeyboardEvent.code`; false when the code is unknown. */
  key(code: string, down: boolean): boolean;
  /**
   * Type text on the guest's keymap, at the guest's pace; resolves with the characters no key types.
   * Optional: without it, text from IMEs and pastes is dropped.
   */
  text?(text: string): Promise<string[]>;
  /** Absolute pointer, x and y in 0..1 of the screen; buttons as DOM `MouseEvent.buttons`. */
  pointer(x: number, y: number, buttons: number): void;
  wheel(dx: number, dy: number): void;
  /** Every finger currently down, positions in 0..1. */
  touch(contacts: { id: number; x: number; y: number }[]): void;
}
