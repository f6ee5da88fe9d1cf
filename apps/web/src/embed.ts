/**
 * The embedding API: a virtio-desktop machine in your page. The machine runs in a Web Worker (its own
 * thread: the page stays responsive), its screen is drawn on a canvas you give, and its disks are read
 * from your server by HTTP range requests as the guest needs them, with the guest's changes kept in the
 * origin's private file system (OPFS) across reloads.
 *
 *   const m = createMachine({ manifest, urls: { kernel: 'Image', disks: { 'rootfs.ext4': 'rootfs.ext4' } },
 *                             canvas: document.querySelector('canvas') });
 *   m.on('ready', () => m.typeText('echo hello\n'));
 *   await m.start();
 */
import {
  CanvasClient,
  PageClipboard,
  clipboardMessages,
  type ClientMessage,
} from '@virtio-desktop/viewer/browser';
import type { CallValue, FromWorker, MachineUrls, Phase, ToWorker } from './messages.js';

export type { MachineUrls, Phase } from './messages.js';

export interface CreateMachineOptions {
  /** The machine, as the JSON manifest `vdesk run` takes; virtio-blk `image` names are keys of urls.disks. */
  manifest: unknown;
  urls: MachineUrls;
  /** Where the screen is drawn and pointer/touch input is taken; absent: no display (console only). */
  canvas?: HTMLCanvasElement;
  /** Where keys are listened for (default: the canvas's parent element; the canvas takes focus on click). */
  keyTarget?: EventTarget;
  /**
   * The screen size the guest is asked for, on start and on window resizes; null: keep the guest's mode
   * (the canvas scales). Default: the canvas's size on the page.
   */
  desiredSize?: (() => { width: number; height: number }) | null;
  /**
   * Name of this machine's files in OPFS (the disk overlay and the cache of fetched chunks); null: keep
   * nothing (every visit starts from the image, fetches again). Default: the manifest's name.
   */
  storage?: string | null;
  /** Console text that means the machine is usable ('ready' fires). Default: the desktop image's marker. */
  readyMarker?: string;
  /**
   * Each hart on its own Web Worker over shared memory; needs a cross-origin isolated page (served with
   * COOP same-origin and COEP require-corp). Default false: every hart on the machine's worker, which
   * booted the desktop faster on a loaded 2-core machine (see the README).
   */
  threads?: boolean;
  /**
   * Keep the browser's clipboard and the guest's in step (default true, with a canvas): what the guest
   * copies is written to the browser's clipboard, and the browser's goes to the guest on paste and when
   * the window gets the focus (the browser asks the user the first time). The 'clipboard' event and
   * setClipboard() work either way.
   */
  clipboard?: boolean;
  /** The worker script (default: worker.js next to this module, with hart-worker.js beside it). */
  workerUrl?: string | URL;
}

export interface MachineEventMap {
  /** Text the guest wrote on its serial console. */
  console: string;
  /** Bytes downloaded so far of the kernel, initrd or disk (a lazy disk has no total). */
  progress: { phase: Phase; loaded: number; total: number | null };
  /** The kernel is loaded and the harts run. */
  running: undefined;
  /** The ready marker appeared: ms since start(), and bytes fetched by then. */
  ready: { ms: number; bytesFetched: number };
  /** The guest powered off (its exit code), or the machine stopped (code 1 and a reason). */
  exit: { kind: 'poweroff' | 'stopped'; code: number; reason: string };
  /** Something failed (a download, a bad manifest, the disk): one line. */
  error: string;
  /** Something works less well than it could (no OPFS, a refused power-button press). */
  warn: string;
  /** The guest's clipboard changed: its text (needs the machine's virtio-console and the guest agent). */
  clipboard: string;
}

export interface WebMachine {
  /**
   * Fetch what the machine needs and boot it, or continue a snapshot (`restore`, from saveState() of a
   * machine with the same manifest); resolves when it runs, rejects with the error line.
   */
  start(o?: { restore?: Uint8Array }): Promise<void>;
  /** A snapshot of the running machine (RAM, devices, the disk's changes; the disk image by reference). */
  saveState(): Promise<Uint8Array>;
  /** Stop at once (no guest shutdown) and end the worker. */
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
  /** Press the power button: the guest shuts down in order (virtio-power), then 'exit' fires. */
  powerButton(): void;
  /** Stop, and forget the guest's changes to its disks (the overlay in OPFS): the next start is fresh. */
  reset(): Promise<void>;
  /** The screen as RGBA pixels (null before the guest has a mode). */
  screenshot(): Promise<{ width: number; height: number; rgba: Uint8Array } | null>;
  /** Key chords pressed in turn, e.g. sendKeys('ctrl+alt+t', 'enter'). */
  sendKeys(...chords: string[]): Promise<void>;
  /** Text typed on the guest's US keyboard at its pace; resolves when typed. */
  typeText(text: string): Promise<void>;
  /** Bytes to the serial console (a root shell on the desktop image). */
  consoleInput(text: string): void;
  /** Give the guest this text as its clipboard (CLIPBOARD and PRIMARY, through the guest agent). */
  setClipboard(text: string): void;
  on<K extends keyof MachineEventMap>(event: K, fn: (e: MachineEventMap[K]) => void): () => void;
  readonly state: 'new' | 'starting' | 'running' | 'ready' | 'exited' | 'failed';
  /** The canvas client (frames drawn, screen size), when there is a canvas. */
  readonly view: CanvasClient | null;
}

export const DESKTOP_READY_MARKER = 'VDESK-DESKTOP-READY';

export function createMachine(o: CreateMachineOptions): WebMachine {
  type Listener = (e: unknown) => void;
  const listeners = new Map<keyof MachineEventMap, Set<Listener>>();
  const emit = <K extends keyof MachineEventMap>(k: K, e: MachineEventMap[K]): void =>
    listeners.get(k)?.forEach((f) => f(e));
  let worker: Worker | null = null;
  let state: WebMachine['state'] = 'new';
  let view: CanvasClient | null = null;
  let pageClipboard: PageClipboard | null = null;
  let nextId = 1;
  const calls = new Map<number, { resolve(v: CallValue): void; reject(e: Error): void }>();
  const name = (o.manifest as { name?: unknown } | null)?.name;
  const storage = o.storage === undefined ? (typeof name === 'string' ? name : 'virtio-desktop') : o.storage;
  const send = (m: ToWorker, transfer: Transferable[] = []): void => worker?.postMessage(m, transfer);

  const call = (
    op: 'screenshot' | 'keys' | 'type' | 'reset' | 'save',
    args: string[] = [],
  ): Promise<CallValue> => {
    if (!worker) return Promise.reject(new Error('the machine is not started'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject });
      send({ type: 'call', id, op, args });
    });
  };

  const endWorker = (): void => {
    worker?.terminate();
    worker = null;
    for (const c of calls.values()) c.reject(new Error('the machine stopped'));
    calls.clear();
  };

  const machine: WebMachine = {
    get state() {
      return state;
    },
    get view() {
      return view;
    },
    start(so = {}) {
      if (worker) return Promise.reject(new Error('the machine is already started'));
      state = 'starting';
      const url = o.workerUrl ?? new URL('./worker.js', import.meta.url);
      const w = new Worker(url, { type: 'module' });
      worker = w;
      if (o.canvas && !view) {
        const canvas = o.canvas;
        view = new CanvasClient({
          canvas,
          keyTarget: o.keyTarget ?? canvas.parentElement ?? canvas,
          send: (m: ClientMessage) => send({ type: 'input', message: m }),
          desiredSize:
            o.desiredSize === undefined
              ? () => {
                  const r = canvas.getBoundingClientRect();
                  return { width: r.width, height: r.height };
                }
              : o.desiredSize,
        });
        if (o.clipboard ?? true)
          pageClipboard = new PageClipboard({
            send: (m: ClientMessage) => send({ type: 'input', message: m }),
            pasteTarget: o.keyTarget ?? canvas.parentElement ?? canvas,
          });
      }
      return new Promise<void>((resolve, reject) => {
        w.onerror = (e) => {
          const msg = `the machine's worker failed: ${e.message || 'it could not be loaded'}`;
          state = 'failed';
          emit('error', msg);
          reject(new Error(msg));
          endWorker();
        };
        w.onmessage = (ev: MessageEvent<FromWorker>) => {
          const m = ev.data;
          switch (m.type) {
            case 'screen':
              view?.receive(m.bytes);
              return;
            case 'console':
              emit('console', m.text);
              return;
            case 'clipboard':
              void pageClipboard?.receive(m.text);
              emit('clipboard', m.text);
              return;
            case 'progress':
              emit('progress', { phase: m.phase, loaded: m.loaded, total: m.total });
              return;
            case 'running':
              state = 'running';
              view?.start();
              emit('running', undefined);
              resolve();
              return;
            case 'ready':
              state = 'ready';
              emit('ready', { ms: m.ms, bytesFetched: m.bytesFetched });
              return;
            case 'warn':
              emit('warn', m.message);
              return;
            case 'error':
              state = 'failed';
              emit('error', m.message);
              reject(new Error(m.message));
              return;
            case 'exit':
              state = 'exited';
              emit('exit', { kind: m.kind, code: m.code, reason: m.reason });
              return;
            case 'result': {
              const c = calls.get(m.id);
              calls.delete(m.id);
              if (m.error !== undefined) c?.reject(new Error(m.error));
              else c?.resolve(m.value ?? null);
              return;
            }
          }
        };
        send({
          type: 'start',
          manifest: o.manifest,
          urls: resolveUrls(o.urls),
          storage,
          readyMarker: o.readyMarker ?? DESKTOP_READY_MARKER,
          threads: o.threads ?? false,
          ...(so.restore ? { restore: so.restore } : {}),
        });
      });
    },
    async stop() {
      if (!worker) return;
      send({ type: 'stop' });
      // The worker closes its OPFS files as the machine stops; give it a moment, then end it regardless.
      await Promise.race([
        new Promise<void>((r) => {
          const off = machine.on('exit', () => (off(), r()));
        }),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
      endWorker();
      if (state !== 'failed') state = 'exited';
    },
    pause: () => send({ type: 'pause' }),
    resume: () => send({ type: 'resume' }),
    powerButton: () => send({ type: 'power' }),
    async reset() {
      const running = worker !== null;
      if (!running) {
        // Only the worker may open OPFS files synchronously; a short-lived one removes them.
        worker = new Worker(o.workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module' });
        worker.onmessage = (ev: MessageEvent<FromWorker>) => {
          const m = ev.data;
          if (m.type !== 'result') return;
          const c = calls.get(m.id);
          calls.delete(m.id);
          if (m.error !== undefined) c?.reject(new Error(m.error));
          else c?.resolve(null);
        };
      }
      try {
        if (storage) await call('reset', [storage]);
      } finally {
        endWorker();
        state = 'new';
      }
    },
    async screenshot() {
      const v = await call('screenshot');
      return v !== null && typeof v === 'object' && !(v instanceof Uint8Array) ? v : null;
    },
    async saveState() {
      const v = await call('save');
      if (!(v instanceof Uint8Array)) throw new Error('the machine sent no snapshot');
      return v;
    },
    async sendKeys(...chords) {
      await call('keys', chords);
    },
    async typeText(text) {
      await call('type', [text]);
    },
    consoleInput: (text) => send({ type: 'console', text }),
    setClipboard(text) {
      if (pageClipboard) pageClipboard.give(text);
      else for (const m of clipboardMessages(text)) send({ type: 'input', message: m });
    },
    on(event, fn) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(fn as Listener);
      return () => void set.delete(fn as Listener);
    },
  };
  return machine;
}

/** URLs relative to the page, made absolute: the worker resolves against its own script's URL. */
function resolveUrls(u: MachineUrls): MachineUrls {
  const abs = (s: string): string => new URL(s, document.baseURI).href;
  return {
    kernel: abs(u.kernel),
    ...(u.initrd ? { initrd: abs(u.initrd) } : {}),
    ...(u.disks ? { disks: Object.fromEntries(Object.entries(u.disks).map(([k, v]) => [k, abs(v)])) } : {}),
  };
}
