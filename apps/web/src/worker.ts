/**
 * The machine's Web Worker: fetches the kernel, opens each disk as an HTTP range image (chunks cached in
 * OPFS) under a copy-on-write overlay kept in OPFS, builds the RiscvMachine from the manifest with the
 * device packages bundled here, runs it, and speaks to the page in messages.ts: the screen as viewer
 * protocol bytes, console text, progress, readiness and exit.
 */
import {
  CPU_PACKAGE,
  RiscvMachine,
  defaultCodec,
  parseManifest,
  type CpuEngine,
  type Manifest,
  type ModuleLoader,
} from '@virtio-desktop/machine';
import { browserParts } from '@virtio-desktop/machine/browser';
import { DeviceId, type DevicePlugin, type Logger, type VirtioDevice } from '@virtio-desktop/virtio-core';
import * as blkModule from '@virtio-desktop/virtio-blk';
import {
  HttpRangeBackend,
  MemoryChunkCache,
  OpfsBlockStore,
  OpfsChunkCache,
  PersistentOverlayBackend,
  type ChunkCache,
  type OpfsDirectoryLike,
} from '@virtio-desktop/virtio-blk/browser';
import * as consoleModule from '@virtio-desktop/virtio-console';
import * as fbModule from '@virtio-desktop/virtio-fb';
import * as inputModule from '@virtio-desktop/virtio-input';
import * as powerModule from '@virtio-desktop/virtio-power';
import {
  Encoding,
  FbDisplaySource,
  InputDispatcher,
  encodeCursor,
  encodeRect,
  encodeResize,
  parseClientMessage,
  type InputSink,
  type Rect,
} from '@virtio-desktop/viewer';
import { DeferredChunkCache } from './deferred-cache.js';
import type { CallValue, FromWorker, StartRequest, ToWorker } from './messages.js';

const post = (m: FromWorker, transfer: Transferable[] = []): void => postMessage(m, { transfer });

let machine: RiscvMachine | null = null;
let running: Promise<unknown> | null = null;
let dispatcher: InputDispatcher | null = null;
let keyboard: inputModule.Keyboard | undefined;
let screen: FbDisplaySource | null = null;
const disks: { close(): Promise<void> }[] = [];
/** The disks' chunk caches, whose OPFS writes wait for the guest's ready line (deferred-cache.ts). */
const chunkCaches: DeferredChunkCache[] = [];
const releaseChunkWrites = (): void => {
  for (const c of chunkCaches) c.release();
};
let storagePrefix: string | null = null;
let bytesFetched = 0;

const log: Logger = {
  error: (m) => console.error(m),
  warn: (m) => console.warn(m),
  info: (m) => console.info(m),
  debug: () => {},
};

onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'start':
      void start(m).catch((err: unknown) => fail(err));
      return;
    case 'input': {
      // The page is another thread of the same origin, but an embedder's bugs must not reach the guest.
      const checked = parseClientMessage(JSON.stringify(m.message));
      if (typeof checked !== 'string') dispatcher?.apply(checked);
      return;
    }
    case 'console':
      machine?.consoleInput(new TextEncoder().encode(m.text));
      return;
    case 'power': {
      const p = machine?.power;
      if (!p) post({ type: 'warn', message: 'this machine has no virtio-power device' });
      else if (!p.acceptsHostRequests)
        post({ type: 'warn', message: 'the guest does not take power-button presses (yet)' });
      else p.requestShutdown();
      return;
    }
    case 'pause':
      machine?.pause();
      return;
    case 'resume':
      machine?.resume();
      return;
    case 'stop':
      void shutdown('stopped by the page');
      return;
    case 'call':
      void call(m.op, m.args).then(
        (value) => post({ type: 'result', id: m.id, value }),
        (err: unknown) => post({ type: 'result', id: m.id, error: (err as Error).message ?? String(err) }),
      );
      return;
  }
};

function fail(err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err);
  post({ type: 'error', message: msg.split('\n')[0] });
}

async function call(op: string, args: string[]): Promise<CallValue> {
  switch (op) {
    case 'screenshot': {
      if (!screen?.size()) return null;
      const f = screen.frame();
      return f;
    }
    case 'keys': {
      if (!keyboard) throw new Error('this machine has no virtio-input keyboard');
      const chords = args.map(inputModule.parseChord);
      for (const c of chords) keyboard.chord(c);
      return chords.length;
    }
    case 'type': {
      if (!keyboard) throw new Error('this machine has no virtio-input keyboard');
      const r = await keyboard.typePaced(args[0] ?? '', 5000, 8);
      if (r.unknown.length)
        throw new Error(`typed all but ${r.unknown.length} characters a US layout has no key for`);
      return r.typed;
    }
    case 'save': {
      if (!machine) throw new Error('the machine is not started');
      return machine.snapshot({ codec: defaultCodec() });
    }
    case 'reset': {
      await shutdown('reset');
      const prefix = args[0] ?? storagePrefix;
      if (prefix) await removeOverlays(prefix);
      return null;
    }
    default:
      throw new Error(`unknown operation ${op}`);
  }
}

async function shutdown(reason: string): Promise<void> {
  if (machine) {
    machine.stop(reason);
    await running;
  }
  for (const d of disks.splice(0)) await d.close().catch(() => {});
}

async function start(req: StartRequest): Promise<void> {
  if (machine) throw new Error('the machine is already started');
  const t0 = performance.now();
  const manifest: Manifest = parseManifest(req.manifest, 'manifest');
  storagePrefix = req.storage;
  const kernel = await fetchAll(req.urls.kernel, 'kernel');
  const initrd = req.urls.initrd ? await fetchAll(req.urls.initrd, 'initrd') : undefined;
  const backends = new Map<string, blkModule.BlockBackend>();
  for (const d of manifest.devices) {
    const image = (d.options as { image?: unknown } | undefined)?.image;
    if (d.package !== '@virtio-desktop/virtio-blk' || typeof image !== 'string' || backends.has(image))
      continue;
    const url = req.urls.disks?.[image];
    if (!url) throw new Error(`no URL for the disk image "${image}" (urls.disks)`);
    const readOnly = (d.options as { readOnly?: unknown }).readOnly === true;
    backends.set(image, await openDisk(image, url, req.storage, readOnly, manifest.name));
  }
  // Harts on their own workers over shared RAM, where the page is cross-origin isolated and the
  // manifest asks for threads (with our CPU package: its hart worker is bundled beside this one).
  const threaded =
    req.threads &&
    manifest.clock === 'wall' &&
    (manifest.cpu?.package ?? CPU_PACKAGE) === CPU_PACKAGE &&
    globalThis.crossOriginIsolated === true;
  if (req.threads && !threaded)
    post({ type: 'warn', message: 'harts on threads need a cross-origin isolated page: one thread used' });
  const m = await RiscvMachine.create({
    manifest,
    images: { kernel, ...(initrd ? { initrd } : {}) },
    loadModule: moduleLoader(backends),
    log,
    ...(threaded
      ? {
          parts: browserParts({
            cpu: (manifest.cpu?.options?.engine as CpuEngine | undefined) ?? 'jit',
            hartWorkerUrl: new URL('./hart-worker.js', import.meta.url),
          }),
          threads: true,
        }
      : {}),
  });
  machine = m;
  const input = deviceInput(m);
  keyboard = input.keyboard;
  const fb = m.devices.find((p) => p.device instanceof fbModule.VirtioGpuDevice)?.device as
    fbModule.VirtioGpuDevice | undefined;
  if (fb) {
    screen = new FbDisplaySource(fb);
    pumpScreen(screen);
  }
  const clipboard = deviceClipboard(m);
  clipboard?.on('text', (text) => post({ type: 'clipboard', text }));
  dispatcher = new InputDispatcher({
    input: input.sink,
    ...(clipboard ? { clipboard } : {}),
    ...(screen ? { display: screen } : {}),
    warn: (l) => console.warn(`viewer: ${l}`),
  });
  const flushConsole = watchConsole(m, req.readyMarker, t0, req.restore !== undefined);
  if (req.restore) {
    // After the screen's listeners exist, so the restored screen is drawn at once; the ready marker was
    // printed before the snapshot, so a restored machine is ready as soon as it runs.
    await m.restore(req.restore, { codec: defaultCodec() });
  }
  post({ type: 'running' });
  if (req.restore) {
    post({ type: 'ready', ms: performance.now() - t0, bytesFetched });
    releaseChunkWrites();
  }
  // A guest that never prints the ready line still gets its chunks cached.
  setTimeout(releaseChunkWrites, 60_000);
  running = m.run().then(
    (exit) => (
      flushConsole(),
      post({
        type: 'exit',
        kind: exit.kind,
        code: exit.kind === 'poweroff' ? exit.code : 1,
        reason: exit.kind === 'stopped' ? exit.reason : 'power-off',
      })
    ),
    (err: unknown) => fail(err),
  );
}

/** A disk: the HTTP image (chunks cached in OPFS) under an overlay in OPFS, or in memory without OPFS. */
async function openDisk(
  name: string,
  url: string,
  storage: string | null,
  readOnly: boolean,
  machineName: string,
): Promise<blkModule.BlockBackend> {
  const dir = storage ? await opfsRoot() : null;
  const chunkSize = 256 * 1024;
  let lastReport = 0;
  const onFetched = (n: number): void => {
    bytesFetched += n;
    const now = performance.now();
    if (now - lastReport > 200) {
      lastReport = now;
      post({ type: 'progress', phase: 'disk', loaded: bytesFetched, total: null });
    }
  };
  const absolute = new URL(url, self.location.href).href;
  // The first request tells the size and validators; the cache's and overlay's files are keyed by them.
  const probe = await HttpRangeBackend.open({ url: absolute, chunkSize, onFetched });
  const info = probe.info;
  const key = `${storage}-${safeName(name)}`;
  let cache: ChunkCache = new MemoryChunkCache(64 << 20);
  if (dir) {
    const store = await openStore(dir, `${key}-cache`, {
      blockSize: chunkSize,
      blocks: Math.ceil(info.size / chunkSize),
      tag: `${absolute} ${info.size} ${info.etag ?? info.lastModified ?? ''}`,
    });
    // Recent chunks in memory too: a read of the OPFS file costs as much as a millisecond in Chromium.
    // Their writes wait until the disk is quiet (deferred-cache.ts): they serve the next visit, not this boot.
    const deferred = new DeferredChunkCache(new OpfsChunkCache(store, { memoryBytes: 64 << 20 }), {
      held: true,
    });
    chunkCaches.push(deferred);
    cache = deferred;
    disks.push({
      close: async () => {
        deferred.flush();
        store.close();
      },
    });
  }
  const base = HttpRangeBackend.withInfo({ url: absolute, chunkSize, onFetched, cache }, info);
  if (readOnly) return base;
  if (!dir) {
    post({ type: 'warn', message: 'no OPFS here: changes to the disk last until the page closes' });
    return new blkModule.OverlayBackend(base);
  }
  const store = await openStore(dir, `${key}-overlay`, {
    blockSize: 4096,
    blocks: Math.ceil(info.size / 4096),
    // Another image (or machine) under the same name starts from a clean overlay.
    tag: `${machineName} ${info.size} ${info.etag ?? info.lastModified ?? ''}`,
  });
  const overlay = new PersistentOverlayBackend(base, store);
  disks.push({ close: () => overlay.close() });
  return overlay;
}

async function openStore(
  dir: OpfsDirectoryLike,
  name: string,
  o: ConstructorParameters<typeof OpfsBlockStore>[2],
): Promise<OpfsBlockStore> {
  // A page that was just reloaded: its old worker's handles are released a moment after it ends.
  for (let tries = 0; ; tries++) {
    try {
      return await OpfsBlockStore.open(dir, name, o);
    } catch (e) {
      if ((e as { name?: string }).name !== 'NoModificationAllowedError') throw e;
      if (tries >= 20)
        throw new Error('this machine is already running in another tab or window (its disk is in use)');
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function opfsRoot(): Promise<OpfsDirectoryLike | null> {
  try {
    return (await navigator.storage.getDirectory()) as unknown as OpfsDirectoryLike;
  } catch {
    return null;
  }
}

/** Remove every overlay of machines stored under `prefix` (the reset button). */
async function removeOverlays(prefix: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const names: string[] = [];
  for await (const n of (root as unknown as { keys(): AsyncIterable<string> }).keys())
    if (n.startsWith(`${prefix}-`) && /-overlay\.(blocks|index)$/.test(n)) names.push(n);
  for (const n of names) await root.removeEntry(n);
}

const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);

async function fetchAll(url: string, phase: 'kernel' | 'initrd'): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`${phase} ${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new Error(`${phase} ${url}: HTTP ${res.status} ${res.statusText}`.trim());
  const total = Number(res.headers.get('content-length')) || null;
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    bytesFetched += value.length;
    post({ type: 'progress', phase, loaded, total });
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The device packages this bundle carries; virtio-blk's `image` names become the disks opened above. */
function moduleLoader(backends: Map<string, blkModule.BlockBackend>): ModuleLoader {
  const blk = blkModule.virtioBlkPlugin;
  const browserBlk: DevicePlugin<blkModule.BlkPluginOptions, blkModule.VirtioBlkDevice> = {
    ...blk,
    async create(o, ctx) {
      const backend = o.image === undefined ? undefined : backends.get(o.image);
      if (!backend) return blk.create(o, ctx);
      return new blkModule.VirtioBlkDevice({
        backend,
        readOnly: o.readOnly,
        serial: o.serial,
        blockSize: o.blockSize,
        log: ctx.log,
      });
    },
  };
  const modules: Record<string, unknown> = {
    '@virtio-desktop/virtio-blk': { default: browserBlk },
    '@virtio-desktop/virtio-console': consoleModule,
    '@virtio-desktop/virtio-fb': fbModule,
    '@virtio-desktop/virtio-input': inputModule,
    '@virtio-desktop/virtio-power': powerModule,
  };
  return async (spec) => {
    const mod = modules[spec];
    if (!mod) throw new Error('not in this page (its device packages are bundled into the worker)');
    return mod;
  };
}

/** Screen updates as viewer protocol messages: damage coalesced into one rectangle a frame. */
function pumpScreen(d: FbDisplaySource): void {
  let pending: Rect | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const send = (bytes: Uint8Array): void => post({ type: 'screen', bytes }, [bytes.buffer]);
  const flush = (): void => {
    timer = null;
    const r = pending;
    const s = d.size();
    pending = null;
    if (!r || !s) return;
    const x = Math.max(0, r.x);
    const y = Math.max(0, r.y);
    const w = Math.min(s.width, r.x + r.width) - x;
    const h = Math.min(s.height, r.y + r.height) - y;
    if (w <= 0 || h <= 0) return;
    // The header, then the pixels read straight into the message that is transferred (no copy between).
    const header = encodeRect(x, y, w, h, Encoding.Raw, new Uint8Array(0));
    const msg = new Uint8Array(header.length + w * h * 4);
    msg.set(header);
    d.readRGBAInto({ x, y, width: w, height: h }, msg, header.length);
    send(msg);
  };
  const damage = (r: Rect): void => {
    const p = pending;
    if (!p) pending = { ...r };
    else {
      const x0 = Math.min(p.x, r.x);
      const y0 = Math.min(p.y, r.y);
      pending = {
        x: x0,
        y: y0,
        width: Math.max(p.x + p.width, r.x + r.width) - x0,
        height: Math.max(p.y + p.height, r.y + r.height) - y0,
      };
    }
    timer ??= setTimeout(flush, 16);
  };
  d.onResize((w, h) => {
    pending = null;
    send(encodeResize(w, h));
    damage({ x: 0, y: 0, width: w, height: h });
  });
  d.onDamage(damage);
  d.onCursor((c) =>
    send(
      c
        ? encodeCursor(c.hotX, c.hotY, c.width, c.height, c.rgba)
        : encodeCursor(0, 0, 0, 0, new Uint8Array(0)),
    ),
  );
}

/** Console text to the page in batches, and the ready marker's arrival; returns a flush (for the end). */
function watchConsole(m: RiscvMachine, marker: string, t0: number, restored: boolean): () => void {
  const dec = new TextDecoder();
  let text = '';
  let timer: ReturnType<typeof setTimeout> | null = null;
  let line = '';
  let ready = restored;
  m.on('console', (b) => {
    const s = dec.decode(b, { stream: true });
    text += s;
    if (!ready) {
      for (const ch of s) {
        if (ch === '\n') {
          if (line.includes(marker)) {
            ready = true;
            releaseChunkWrites();
            post({ type: 'ready', ms: performance.now() - t0, bytesFetched });
            break;
          }
          line = '';
        } else if (line.length < 512) line += ch;
      }
    }
    timer ??= setTimeout(flush, 30);
  });
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (text) post({ type: 'console', text });
    text = '';
  };
  return flush;
}

const ABS = inputModule.ABS_MAX;
const scale = (v: number): number => Math.round(Math.min(1, Math.max(0, v)) * ABS);
const has = (d: VirtioDevice, ...methods: string[]): boolean =>
  d.deviceId === DeviceId.Input &&
  methods.every((k) => typeof (d as unknown as Record<string, unknown>)[k] === 'function');

/** The machine's clipboard channel (a virtio-console with the clipboard port), found by type and shape. */
function deviceClipboard(m: RiscvMachine): consoleModule.ClipboardChannel | null {
  for (const { device: d } of m.devices) {
    const c = d.deviceId === DeviceId.Console ? (d as { clipboard?: unknown }).clipboard : null;
    if (c instanceof consoleModule.ClipboardChannel) return c;
  }
  return null;
}

/** The machine's virtio-input devices as the viewer's InputSink (found by type and methods). */
function deviceInput(m: RiscvMachine): { sink: InputSink; keyboard?: inputModule.Keyboard } {
  let kb: inputModule.Keyboard | undefined;
  let ptr: inputModule.Pointer | undefined;
  let touch: inputModule.Touchscreen | undefined;
  for (const { device: d } of m.devices) {
    if (has(d, 'domKey', 'typePaced')) kb ??= d as inputModule.Keyboard;
    else if (has(d, 'state', 'wheel')) ptr ??= d as inputModule.Pointer;
    else if (has(d, 'contacts')) touch ??= d as inputModule.Touchscreen;
  }
  const sink: InputSink = {
    key: (code, down) => kb?.domKey(code, down) ?? false,
    text: async (t) => (kb ? (await kb.typePaced(t, 5000, 8)).unknown : []),
    pointer: (x, y, buttons) => ptr?.state(scale(x), scale(y), buttons),
    wheel: (dx, dy) => ptr?.wheel(dy, dx),
    touch: (c) => touch?.contacts(c.map((k) => ({ id: k.id, x: scale(k.x), y: scale(k.y) }))),
  };
  return { sink, ...(kb ? { keyboard: kb } : {}) };
}
