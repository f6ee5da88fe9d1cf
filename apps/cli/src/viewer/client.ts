/**
 * The viewer page's script (bundled by tsup into viewer-client.global.js): the canvas client of
 * @virtio-desktop/viewer over the viewer's WebSocket.
 */
import { CanvasClient, type ClientMessage } from '@virtio-desktop/viewer/browser';

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
};

ws.onmessage = (ev) => client.receive(new Uint8Array(ev.data as ArrayBuffer));
ws.onopen = () => {
  connected = true;
  status.textContent = '';
  client.sendSize();
};
ws.onclose = (ev) => {
  connected = false;
  closed = ev.reason || String(ev.code);
  status.textContent = `disconnected (${closed})`;
};
client.focus();
