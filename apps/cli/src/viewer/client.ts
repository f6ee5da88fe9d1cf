/**
 * The viewer page's script (bundled by tsup into viewer-client.global.js): the canvas client of
 * @virtio-desktop/viewer over the viewer's WebSocket.
 */
import {
  CanvasClient,
  MsgType,
  PageClipboard,
  decodeServerMessage,
  type ClientMessage,
} from '@virtio-desktop/viewer/browser';

interface VdeskState {
  connected: boolean;
  frames: number;
  width: number;
  height: number;
  closed: string | null;
  /** The guest's clipboard as last received (null before the guest copies anything). */
  clipboard: string | null;
  /** Send this text to the guest's clipboard, as a paste or the focus would. */
  giveClipboard(text: string): void;
}

declare global {
  interface Window {
    __vdesk: VdeskState;
  }
}

const canvas = document.getElementById('screen') as HTMLCanvasElement;
const status = document.getElementById('status') as HTMLDivElement;
const ime = document.getElementById('ime') as HTMLTextAreaElement;
const token = canvas.dataset.token ?? '';

const ws = new WebSocket(
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${token}`,
);
ws.binaryType = 'arraybuffer';
const send = (m: ClientMessage): void => {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
};
const client = new CanvasClient({ canvas, ime, send });
const clipboard = new PageClipboard({ send });
let connected = false;
let closed: string | null = null;
window.__vdesk = {
  get connected() {
    return connected;
  },
  get frames() {
    return client.state.frames;
  },
  get width() {
    return client.state.width;
  },
  get height() {
    return client.state.height;
  },
  get closed() {
    return closed;
  },
  get clipboard() {
    return clipboard.guestText;
  },
  giveClipboard: (text: string) => clipboard.give(text),
};

ws.onmessage = (ev) => {
  const bytes = new Uint8Array(ev.data as ArrayBuffer);
  if (bytes[0] !== MsgType.Clipboard) return client.receive(bytes);
  const m = decodeServerMessage(bytes);
  if (m?.type === 'clipboard') void clipboard.receive(m.text);
};
ws.onopen = () => {
  connected = true;
  status.textContent = '';
  client.sendSize();
  // The page's clipboard, if the browser lets us read it: what the user copied before opening the page.
  void clipboard.syncFromPage();
};
ws.onclose = (ev) => {
  connected = false;
  closed = ev.reason || String(ev.code);
  status.textContent = `disconnected (${closed})`;
};
client.focus();
