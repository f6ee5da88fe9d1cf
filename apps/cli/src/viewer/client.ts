/**
 * The viewer's browser side (bundled by tsup into viewer-client.global.js): draws damage rectangles on a
 * canvas, and sends keys (KeyboardEvent.code, key and modifiers: the server decides what to press on the
 * guest's US layout), text from IMEs, on-screen keyboards and pastes, pointer, wheel, touch and window size.
 */
import { Encoding, MAX_TEXT, decodeServerMessage, type ClientMessage } from './protocol.js';

interface VdeskState {
  connected: boolean;
  frames: number;
  width: number;
  height: number;
  closed: string | null;
}

declare global {
  interface Window {
    __vdesk: VdeskState;
  }
}

const canvas = document.getElementById('screen') as HTMLCanvasElement;
const status = document.getElementById('status') as HTMLDivElement;
// Keys go to an invisible text area: IMEs compose into it, phones show their keyboard for it, and what
// they type arrives as input events there.
const ime = document.getElementById('ime') as HTMLTextAreaElement;
const focusInput = (): void => ime.focus({ preventScroll: true });
const ctx = canvas.getContext('2d', { alpha: false })!;
const token = canvas.dataset.token ?? '';
const state: VdeskState = { connected: false, frames: 0, width: 0, height: 0, closed: null };
window.__vdesk = state;

const ws = new WebSocket(
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${token}`,
);
ws.binaryType = 'arraybuffer';
const send = (m: ClientMessage): void => {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
};

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// Messages are applied strictly in order, even though inflating is asynchronous.
let chain = Promise.resolve();
ws.onmessage = (ev) => {
  const bytes = new Uint8Array(ev.data as ArrayBuffer);
  chain = chain.then(() => apply(bytes)).catch((e: unknown) => console.error('viewer:', e));
};
ws.onopen = () => {
  state.connected = true;
  status.textContent = '';
  sendSize();
};
ws.onclose = (ev) => {
  state.connected = false;
  state.closed = ev.reason || String(ev.code);
  status.textContent = `disconnected (${state.closed})`;
};

async function apply(bytes: Uint8Array): Promise<void> {
  const m = decodeServerMessage(bytes);
  if (!m) return;
  switch (m.type) {
    case 'resize':
      canvas.width = state.width = m.width;
      canvas.height = state.height = m.height;
      return;
    case 'rect': {
      const px = m.encoding === Encoding.Deflate ? await inflate(m.payload) : m.payload;
      if (px.length !== m.w * m.h * 4) return;
      ctx.putImageData(
        new ImageData(new Uint8ClampedArray(px.buffer as ArrayBuffer, px.byteOffset, px.length), m.w, m.h),
        m.x,
        m.y,
      );
      state.frames++;
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

function frac(ev: { clientX: number; clientY: number }): { x: number; y: number } {
  // The canvas is letterboxed by object-fit: contain; map to the drawn area.
  const r = canvas.getBoundingClientRect();
  const scale = Math.min(r.width / (canvas.width || 1), r.height / (canvas.height || 1));
  const w = canvas.width * scale;
  const h = canvas.height * scale;
  const left = r.left + (r.width - w) / 2;
  const top = r.top + (r.height - h) / 2;
  return { x: (ev.clientX - left) / w, y: (ev.clientY - top) / h };
}

let sizeTimer = 0;
function sendSize(): void {
  window.clearTimeout(sizeTimer);
  sizeTimer = window.setTimeout(
    () => send({ t: 'resize', width: Math.floor(innerWidth), height: Math.floor(innerHeight) }),
    100,
  );
}
addEventListener('resize', sendSize);

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

function key(e: KeyboardEvent, down: boolean): void {
  // An IME at work, or an on-screen keyboard that names no key: its text comes as composition or input.
  if (e.isComposing || e.keyCode === 229 || pasteKey(e)) return;
  e.preventDefault();
  if (down && e.repeat) return; // the guest repeats held keys itself
  send({ t: 'key', code: e.code, key: e.key, down, mods: mods(e) });
}
document.addEventListener('keydown', (e) => key(e, true));
document.addEventListener('keyup', (e) => key(e, false));

function sendText(text: string): void {
  // Bounded: the guest types about a hundred characters a second.
  const t = text.replace(/\r\n?/g, '\n').slice(0, 20_000);
  for (let i = 0; i < t.length; i += MAX_TEXT) send({ t: 'text', text: t.slice(i, i + MAX_TEXT) });
}
const tap = (code: string): void => {
  send({ t: 'key', code, key: code, down: true });
  send({ t: 'key', code, key: code, down: false });
};
ime.addEventListener('compositionend', (e) => {
  if (e.data) sendText(e.data);
  ime.value = '';
});
ime.addEventListener('input', (ev) => {
  const e = ev as InputEvent;
  if (e.isComposing) return;
  if (e.inputType === 'insertText' && e.data) sendText(e.data);
  else if (e.inputType === 'deleteContentBackward') tap('Backspace');
  else if (e.inputType === 'insertLineBreak') tap('Enter');
  ime.value = '';
});
document.addEventListener('paste', (e) => {
  e.preventDefault();
  const text = e.clipboardData?.getData('text/plain');
  if (text) sendText(text);
});
canvas.addEventListener('contextmenu', (e) => e.preventDefault());

const touches = new Map<number, { x: number; y: number }>();
const sendTouches = (): void =>
  send({ t: 'touch', contacts: [...touches].map(([id, p]) => ({ id: id & 0xffff, x: p.x, y: p.y })) });
function pointer(e: PointerEvent): void {
  e.preventDefault();
  if (e.type === 'pointerdown') focusInput();
  const p = frac(e);
  if (e.pointerType === 'touch') {
    if (e.type === 'pointerup' || e.type === 'pointercancel') touches.delete(e.pointerId);
    else if (e.type === 'pointerdown' || touches.has(e.pointerId)) touches.set(e.pointerId, p);
    else return;
    sendTouches();
    return;
  }
  send({ t: 'pointer', x: p.x, y: p.y, buttons: e.buttons & 31 });
}
for (const t of ['pointermove', 'pointerdown', 'pointerup', 'pointercancel'] as const)
  canvas.addEventListener(t, pointer);
canvas.addEventListener(
  'wheel',
  (e) => {
    e.preventDefault();
    // Linux counts wheel clicks up/right as positive; the DOM's deltaY is positive downwards.
    send({ t: 'wheel', dx: Math.sign(e.deltaX), dy: -Math.sign(e.deltaY) });
  },
  { passive: false },
);
focusInput();
