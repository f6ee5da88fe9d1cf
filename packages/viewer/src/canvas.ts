/**
 * The browser side of the viewer: draws the viewer protocol's server messages (protocol.ts) on a canvas
 * and turns the page's keys (KeyboardEvent.code, key and modifiers), text from IMEs, on-screen keyboards
 * and pastes, pointer, wheel, touch and size into client messages. It knows nothing of the transport: the
 * CLI's page speaks to a WebSocket, the in-browser machine to a Web Worker.
 */
import { Encoding, MAX_TEXT, decodeServerMessage, type ClientMessage } from './protocol.js';

export interface CanvasClientOptions {
  canvas: HTMLCanvasElement;
  /**
   * Where keys go while the screen has focus: an invisible text area (IMEs compose into it, phones show
   * their keyboard for it). Created next to the canvas when absent.
   */
  ime?: HTMLTextAreaElement;
  /** Where key events are listened for (default: the document; an embedding page passes its element). */
  keyTarget?: EventTarget;
  /** Sends one client message to the machine. */
  send(m: ClientMessage): void;
  /**
   * The size the guest's screen should have, asked for on start and on each window resize; null: never
   * ask (the guest keeps its mode and the canvas scales). Default: the window's inner size.
   */
  desiredSize?: (() => { width: number; height: number }) | null;
}

export interface CanvasClientState {
  frames: number;
  width: number;
  height: number;
}

/** Clipboard text longer than this is cut: the guest types about a hundred characters a second. */
const MAX_PASTE = 20_000;

export class CanvasClient {
  readonly state: CanvasClientState = { frames: 0, width: 0, height: 0 };
  readonly ime: HTMLTextAreaElement;
  private readonly ctx: CanvasRenderingContext2D;
  /** Messages are applied strictly in order, even though inflating is asynchronous. */
  private chain: Promise<void> = Promise.resolve();
  private readonly cleanup: (() => void)[] = [];
  private sizeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly touches = new Map<number, { x: number; y: number }>();
  /** Where rectangles are inflated: one buffer for all (messages are drawn one at a time). */
  private pixels = new ArrayBuffer(0);
  /** Called after each drawn rectangle (tests and embedders wait for frames). */
  onFrame: (() => void) | null = null;

  constructor(private readonly o: CanvasClientOptions) {
    const canvas = o.canvas;
    this.ctx = canvas.getContext('2d', { alpha: false })!;
    this.ime = o.ime ?? createIme(canvas);
    const on = <K extends string>(
      t: EventTarget,
      type: K,
      f: (e: Event) => void,
      opts?: AddEventListenerOptions,
    ) => {
      t.addEventListener(type, f, opts);
      this.cleanup.push(() => t.removeEventListener(type, f, opts));
    };
    const keys = o.keyTarget ?? document;
    on(keys, 'keydown', (e) => this.key(e as KeyboardEvent, true));
    on(keys, 'keyup', (e) => this.key(e as KeyboardEvent, false));
    on(this.ime, 'compositionend', (e) => {
      const d = (e as CompositionEvent).data;
      if (d) this.sendText(d);
      this.ime.value = '';
    });
    on(this.ime, 'input', (ev) => {
      const e = ev as InputEvent;
      if (e.isComposing) return;
      if (e.inputType === 'insertText' && e.data) this.sendText(e.data);
      else if (e.inputType === 'deleteContentBackward') this.tap('Backspace');
      else if (e.inputType === 'insertLineBreak') this.tap('Enter');
      this.ime.value = '';
    });
    on(keys, 'paste', (ev) => {
      const e = ev as ClipboardEvent;
      e.preventDefault();
      const text = e.clipboardData?.getData('text/plain');
      if (text) this.sendText(text);
    });
    on(canvas, 'contextmenu', (e) => e.preventDefault());
    for (const t of ['pointermove', 'pointerdown', 'pointerup', 'pointercancel'])
      on(canvas, t, (e) => this.pointer(e as PointerEvent));
    on(
      canvas,
      'wheel',
      (ev) => {
        const e = ev as WheelEvent;
        e.preventDefault();
        // Linux counts wheel clicks up/right as positive; the DOM's deltaY is positive downwards.
        this.o.send({ t: 'wheel', dx: Math.sign(e.deltaX), dy: -Math.sign(e.deltaY) });
      },
      { passive: false },
    );
    if (o.desiredSize !== null) on(globalThis, 'resize', () => this.sendSize());
  }

  /** Start: ask for the desired size and take the keyboard focus. */
  start(): void {
    this.sendSize();
    this.focus();
  }

  focus(): void {
    this.ime.focus({ preventScroll: true });
  }

  dispose(): void {
    clearTimeout(this.sizeTimer);
    for (const f of this.cleanup.splice(0)) f();
  }

  /** One server message (protocol.ts); malformed ones are ignored. */
  receive(bytes: Uint8Array): void {
    this.chain = this.chain.then(() => this.apply(bytes)).catch((e: unknown) => console.error('viewer:', e));
  }

  /** Resolves when every message received so far is drawn. */
  drained(): Promise<void> {
    return this.chain;
  }

  /** Ask for the desired size now (debounced: a dragged window sends many). */
  sendSize(): void {
    const size = this.o.desiredSize === undefined ? defaultSize : this.o.desiredSize;
    if (!size) return;
    clearTimeout(this.sizeTimer);
    this.sizeTimer = setTimeout(() => {
      const s = size();
      if (s.width > 0 && s.height > 0)
        this.o.send({ t: 'resize', width: Math.floor(s.width), height: Math.floor(s.height) });
    }, 100);
  }

  private async apply(bytes: Uint8Array): Promise<void> {
    const m = decodeServerMessage(bytes);
    if (!m) return;
    const canvas = this.o.canvas;
    switch (m.type) {
      case 'resize':
        canvas.width = this.state.width = m.width;
        canvas.height = this.state.height = m.height;
        return;
      case 'rect': {
        const size = m.w * m.h * 4;
        if (size === 0) return;
        let px = m.payload;
        if (m.encoding === Encoding.Deflate) {
          px = this.scratch(size);
          if (!(await inflateInto(m.payload, px))) return;
        }
        if (px.length !== size) return;
        // putImageData copies the pixels before it returns, so the scratch buffer is free again.
        this.ctx.putImageData(
          new ImageData(new Uint8ClampedArray(px.buffer as ArrayBuffer, px.byteOffset, size), m.w, m.h),
          m.x,
          m.y,
        );
        this.state.frames++;
        this.onFrame?.();
        return;
      }
      case 'cursor': {
        if (m.w === 0 || m.h === 0) {
          canvas.style.cursor = 'default';
          return;
        }
        const c = document.createElement('canvas');
        c.width = m.w;
        c.height = m.h;
        c.getContext('2d')!.putImageData(
          new ImageData(
            new Uint8ClampedArray(m.rgba.buffer as ArrayBuffer, m.rgba.byteOffset, m.rgba.length).slice(),
            m.w,
            m.h,
          ),
          0,
          0,
        );
        canvas.style.cursor = `url(${c.toDataURL()}) ${m.hotX} ${m.hotY}, default`;
        return;
      }
      case 'move':
        return; // the host pointer is the cursor (absolute pointing device)
    }
  }

  /** `size` bytes of the scratch buffer (grown as needed; a full screen is 8 MiB at 1920×1080). */
  private scratch(size: number): Uint8Array {
    if (this.pixels.byteLength < size) this.pixels = new ArrayBuffer(size);
    return new Uint8Array(this.pixels, 0, size);
  }

  /** A pointer position as fractions of the drawn screen (the canvas may be letterboxed by object-fit). */
  frac(ev: { clientX: number; clientY: number }): { x: number; y: number } {
    const canvas = this.o.canvas;
    const r = canvas.getBoundingClientRect();
    const scale = Math.min(r.width / (canvas.width || 1), r.height / (canvas.height || 1));
    const w = canvas.width * scale || 1;
    const h = canvas.height * scale || 1;
    const left = r.left + (r.width - w) / 2;
    const top = r.top + (r.height - h) / 2;
    return { x: (ev.clientX - left) / w, y: (ev.clientY - top) / h };
  }

  private key(e: KeyboardEvent, down: boolean): void {
    // An IME at work, or an on-screen keyboard that names no key: its text comes as composition or input.
    if (e.isComposing || e.keyCode === 229 || pasteKey(e)) return;
    e.preventDefault();
    if (down && e.repeat) return; // the guest repeats held keys itself
    this.o.send({ t: 'key', code: e.code, key: e.key, down, mods: mods(e) });
  }

  /** Text typed through the guest's keymap, in pieces the protocol accepts. */
  sendText(text: string): void {
    const t = text.replace(/\r\n?/g, '\n').slice(0, MAX_PASTE);
    for (let i = 0; i < t.length; i += MAX_TEXT) this.o.send({ t: 'text', text: t.slice(i, i + MAX_TEXT) });
  }

  private tap(code: string): void {
    this.o.send({ t: 'key', code, key: code, down: true });
    this.o.send({ t: 'key', code, key: code, down: false });
  }

  private pointer(e: PointerEvent): void {
    e.preventDefault();
    if (e.type === 'pointerdown') this.focus();
    const p = this.frac(e);
    if (e.pointerType === 'touch') {
      const touches = this.touches;
      if (e.type === 'pointerup' || e.type === 'pointercancel') touches.delete(e.pointerId);
      else if (e.type === 'pointerdown' || touches.has(e.pointerId)) touches.set(e.pointerId, p);
      else return;
      this.o.send({
        t: 'touch',
        contacts: [...touches].slice(0, 10).map(([id, q]) => ({ id: id & 0xffff, x: q.x, y: q.y })),
      });
      return;
    }
    this.o.send({ t: 'pointer', x: p.x, y: p.y, buttons: e.buttons & 31 });
  }
}

const defaultSize = (): { width: number; height: number } => ({ width: innerWidth, height: innerHeight });

function createIme(canvas: HTMLCanvasElement): HTMLTextAreaElement {
  const t = document.createElement('textarea');
  t.setAttribute('autocomplete', 'off');
  t.setAttribute('autocorrect', 'off');
  t.setAttribute('autocapitalize', 'off');
  t.setAttribute('spellcheck', 'false');
  t.setAttribute('aria-label', 'keyboard');
  Object.assign(t.style, {
    position: 'absolute',
    left: '0',
    top: '0',
    width: '1px',
    height: '1px',
    opacity: '0',
    border: '0',
    padding: '0',
    resize: 'none',
  });
  canvas.insertAdjacentElement('afterend', t);
  return t;
}

/**
 * Inflate deflate-raw `data` into `out`; true when it filled `out` exactly (anything else is malformed).
 * The decompressor's chunks are copied straight into `out`: collecting them through a Blob and a
 * Response cost three times as long (62 ms against 20 for a 1920×1080 frame in headless Chromium) and a
 * fresh 8 MiB buffer per frame.
 */
async function inflateInto(data: Uint8Array, out: Uint8Array): Promise<boolean> {
  const ds = new DecompressionStream('deflate-raw');
  const writer = ds.writable.getWriter();
  // Errors surface on the reader (a corrupt stream); these promises must not be unhandled rejections.
  writer.write(data as Uint8Array<ArrayBuffer>).catch(() => {});
  writer.close().catch(() => {});
  const reader = ds.readable.getReader();
  let at = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return at === out.length;
      if (at + value.length > out.length) {
        // More than the rectangle holds: stop inflating now instead of buffering the rest.
        void reader.cancel().catch(() => {});
        return false;
      }
      out.set(value, at);
      at += value.length;
    }
  } catch {
    return false;
  }
}

function mods(e: KeyboardEvent): number {
  return (
    (e.shiftKey ? 1 : 0) |
    (e.ctrlKey ? 2 : 0) |
    (e.altKey ? 4 : 0) |
    (e.metaKey ? 8 : 0) |
    (e.getModifierState('CapsLock') ? 16 : 0) |
    (e.getModifierState('AltGraph') ? 32 : 0)
  );
}

/** Shortcuts left to the browser, which pastes (a 'paste' event, typed as text): Ctrl+Shift+V, Cmd+V, Shift+Insert. */
const pasteKey = (e: KeyboardEvent): boolean =>
  (e.ctrlKey && e.shiftKey && e.code === 'KeyV') ||
  (e.metaKey && !e.ctrlKey && e.key.toLowerCase() === 'v') ||
  (e.shiftKey && e.key === 'Insert');
