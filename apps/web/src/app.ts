/**
 * The page of apps/web: reads machine.json (the manifest and the URLs of its files, as `vdesk web`
 * serves them; ?config=URL for another), boots it with the embedding API and shows progress, errors,
 * a power button, pause, a reset of the disk's changes, and Save: a snapshot of the running machine kept
 * in OPFS that the next visit continues from (?fresh boots anyway). ?threads=1 runs each hart on its own
 * worker.
 */
import { createMachine, type WebMachine } from './embed.js';

interface PageState {
  machine: WebMachine | null;
  ready: { ms: number; bytesFetched: number } | null;
  errors: string[];
  console: string;
  exit: { kind: string; code: number; reason: string } | null;
  /** The guest's clipboard as last copied there (null before). */
  clipboard: string | null;
}

declare global {
  interface Window {
    __vdeskWeb: PageState;
  }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = $<HTMLSpanElement>('status');
const progress = $<HTMLProgressElement>('progress');
const errorBox = $<HTMLDivElement>('error');
const powerBtn = $<HTMLButtonElement>('power');
const pauseBtn = $<HTMLButtonElement>('pause');
const resetBtn = $<HTMLButtonElement>('reset');
const saveBtn = $<HTMLButtonElement>('save');
const page: PageState = { machine: null, ready: null, errors: [], console: '', exit: null, clipboard: null };
window.__vdeskWeb = page;

const MiB = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

function showError(msg: string): void {
  page.errors.push(msg);
  errorBox.textContent = msg;
  errorBox.classList.add('shown');
  status.textContent = 'failed';
  powerBtn.disabled = pauseBtn.disabled = true;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const configUrl = params.get('config') ?? 'machine.json';
  let config: {
    manifest: unknown;
    urls: { kernel: string; initrd?: string; disks?: Record<string, string> };
  };
  try {
    const res = await fetch(configUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    config = await res.json();
  } catch (e) {
    showError(`${configUrl}: ${(e as Error).message}`);
    return;
  }
  const base = new URL(configUrl, location.href);
  const rel = (u: string): string => new URL(u, base).href;
  const urls = {
    kernel: rel(config.urls.kernel),
    ...(config.urls.initrd ? { initrd: rel(config.urls.initrd) } : {}),
    ...(config.urls.disks
      ? { disks: Object.fromEntries(Object.entries(config.urls.disks).map(([k, v]) => [k, rel(v)])) }
      : {}),
  };
  const name = (config.manifest as { name?: unknown } | null)?.name;
  const saved = savedState(`${typeof name === 'string' ? name : 'virtio-desktop'}-saved.state`);
  const m = createMachine({
    manifest: config.manifest,
    urls,
    canvas: $<HTMLCanvasElement>('screen'),
    threads: params.get('threads') === '1',
  });
  page.machine = m;
  let paused = false;
  m.on('progress', (p) => {
    if (page.ready) return;
    if (p.total) progress.value = p.loaded / p.total;
    else progress.removeAttribute('value');
    status.textContent =
      p.phase === 'disk'
        ? `booting — disk: ${MiB(p.loaded)} fetched`
        : `downloading the ${p.phase}: ${MiB(p.loaded)}`;
  });
  m.on('running', () => {
    status.textContent = 'booting…';
    powerBtn.disabled = pauseBtn.disabled = saveBtn.disabled = false;
  });
  m.on('ready', (r) => {
    page.ready = r;
    progress.value = 1;
    status.textContent = `ready in ${(r.ms / 1000).toFixed(1)} s (${MiB(r.bytesFetched)} fetched)`;
  });
  m.on('console', (t) => {
    page.console = (page.console + t).slice(-200_000);
  });
  m.on('warn', (w) => (status.textContent = w));
  m.on('clipboard', (t) => (page.clipboard = t));
  m.on('error', showError);
  m.on('exit', (e) => {
    page.exit = e;
    status.textContent = e.kind === 'poweroff' ? `powered off (exit ${e.code})` : `stopped: ${e.reason}`;
    powerBtn.disabled = pauseBtn.disabled = saveBtn.disabled = true;
  });
  powerBtn.onclick = () => {
    status.textContent = 'shutting down…';
    m.powerButton();
  };
  pauseBtn.onclick = () => {
    paused = !paused;
    if (paused) m.pause();
    else m.resume();
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
  };
  saveBtn.onclick = async () => {
    status.textContent = 'saving…';
    try {
      const b = await m.saveState();
      await saved.write(b);
      status.textContent = `saved (${MiB(b.length)}): the next visit continues from here`;
    } catch (e) {
      status.textContent = `not saved: ${(e as Error).message}`;
    }
  };
  resetBtn.onclick = async () => {
    if (!confirm('Stop the machine and forget every change made to its disk?')) return;
    status.textContent = 'resetting…';
    try {
      await m.reset();
      await saved.drop();
      location.reload();
    } catch (e) {
      showError(`reset: ${(e as Error).message}`);
    }
  };
  const restore = params.has('fresh') ? null : await saved.read();
  if (!restore) {
    await m.start().catch(() => {}); // shown by the 'error' listener
    return;
  }
  status.textContent = 'continuing the saved machine…';
  await m.start({ restore }).catch(async (e: unknown) => {
    // A state that no longer fits (another image, another version) is dropped: the next visit boots.
    await saved.drop();
    page.errors.splice(0);
    showError(
      `the saved machine could not be continued (${(e as Error).message}); it was dropped: reload to boot`,
    );
  });
}

/** A snapshot kept in the origin's private file system under `file`. */
function savedState(file: string) {
  const dir = (): Promise<FileSystemDirectoryHandle> => navigator.storage.getDirectory();
  return {
    async read(): Promise<Uint8Array | null> {
      try {
        const h = await (await dir()).getFileHandle(file);
        return new Uint8Array(await (await h.getFile()).arrayBuffer());
      } catch {
        return null;
      }
    },
    async write(b: Uint8Array): Promise<void> {
      const w = await (await (await dir()).getFileHandle(file, { create: true })).createWritable();
      await w.write(b as Uint8Array<ArrayBuffer>);
      await w.close();
    },
    async drop(): Promise<void> {
      await (await dir()).removeEntry(file).catch(() => {});
    },
  };
}

void main();
