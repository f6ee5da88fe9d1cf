/**
 * Everything around a running machine in `vdesk run`: the viewer (when the machine has a display), the
 * control socket, and graceful shutdown (SIGTERM / `vdesk shutdown`) through virtio-power with a bounded
 * wait before a hard stop.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseManifest, type RiscvMachine } from '@virtio-desktop/machine';
import { saveSnapshotFile } from '@virtio-desktop/machine/node';
import { DeviceId, type Logger, type VirtioDevice } from '@virtio-desktop/virtio-core';
import type { VirtioGpuDevice } from '@virtio-desktop/virtio-fb';
import { PNG } from 'pngjs';
import { ControlServer } from './control/server.js';
import type { ControlRequest } from './control/protocol.js';
import { FbDisplaySource } from './viewer/fb-source.js';
import { MachineInput } from './input.js';
import { machineClipboard } from './clipboard.js';
import { ABS_MAX } from '@virtio-desktop/virtio-input';
import { Viewer } from './viewer/server.js';

export interface SessionOptions {
  name: string;
  viewer: boolean;
  host: string;
  port: number;
  shutdownTimeoutMs: number;
  log: Logger;
  /** Where the viewer URL and status lines go (stderr: stdout is the guest console). */
  say: (line: string) => void;
  /** Directories hotplug may load packages from (their node_modules): the manifest's, the CLI's own. */
  hotplugDirs: string[];
  /** Serve the viewer over HTTPS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
}

/** A virtio-gpu display with the events and the resize the viewer uses (found by type, from any package). */
function isDisplay(d: VirtioDevice): d is VirtioGpuDevice {
  const m = d as unknown as Record<string, unknown>;
  return d.deviceId === DeviceId.Gpu && ['on', 'off', 'requestSize'].every((k) => typeof m[k] === 'function');
}

export class Session {
  private viewer: Viewer | null = null;
  private control: ControlServer | null = null;
  readonly display: FbDisplaySource | null;
  readonly input: MachineInput;
  /** The guest's clipboard (virtio-console's clipboard port), when the machine has one. */
  readonly clipboard: ReturnType<typeof machineClipboard>;
  private shuttingDown: NodeJS.Timeout | null = null;

  constructor(
    readonly machine: RiscvMachine,
    private readonly o: SessionOptions,
  ) {
    const fb = machine.devices.map((d) => d.device).find(isDisplay);
    this.display = fb ? new FbDisplaySource(fb) : null;
    this.input = new MachineInput(machine);
    this.clipboard = machineClipboard(machine);
  }

  async start(): Promise<void> {
    this.control = new ControlServer(this.o.name, (r, signal) => this.handle(r, signal), this.o.log);
    await this.control.start();
    if (this.display && this.o.viewer) {
      this.viewer = new Viewer({
        display: this.display,
        log: this.o.log,
        host: this.o.host,
        port: this.o.port,
        ...(this.o.tls ? { tls: this.o.tls } : {}),
        ...(this.input.any ? { input: this.input } : {}),
        ...(this.clipboard ? { clipboard: this.clipboard } : {}),
      });
      const url = await this.viewer.start();
      this.o.say(`vdesk: viewer at ${url}`);
    }
  }

  async close(): Promise<void> {
    if (this.shuttingDown) clearTimeout(this.shuttingDown);
    await this.viewer?.close();
    await this.control?.close();
  }

  /**
   * Ask the guest to shut down (or reboot) through virtio-power; stop the machine hard if it has not
   * finished within the timeout. Without virtio-power (or a driver that takes requests), stop at once.
   */
  requestShutdown(kind: 'shutdown' | 'reboot', why: string): string {
    const power = this.machine.power;
    if (!power || !power.acceptsHostRequests) {
      // Say which is missing: the device (the manifest's doing) or the guest's driver for it.
      const lacking = power
        ? 'no virtio-power driver in the guest'
        : 'the machine has no virtio-power device';
      if (kind === 'reboot') {
        this.machine.requestReboot();
        return `${lacking}: reset the machine`;
      }
      this.machine.stop(`${why}; ${lacking} to shut down gracefully`);
      return `${lacking}: stopped the machine`;
    }
    if (kind === 'reboot') {
      power.requestReboot();
      return 'asked the guest to reboot';
    }
    power.requestShutdown();
    if (!this.shuttingDown) {
      this.shuttingDown = setTimeout(() => {
        this.machine.stop(`${why}; the guest did not shut down within ${this.o.shutdownTimeoutMs / 1000} s`);
      }, this.o.shutdownTimeoutMs);
    }
    return 'asked the guest to shut down';
  }

  private async handle(r: ControlRequest, signal: AbortSignal): Promise<Record<string, unknown>> {
    const m = this.machine;
    switch (r.cmd) {
      case 'status':
        return {
          name: this.o.name,
          viewer: this.viewer?.url ?? null,
          harts: m.harts.length,
          instructions: m.harts.reduce((n, h) => n + h.instret, 0),
          devices: m.devices.map((d) => ({
            id: d.id,
            plugin: d.plugin,
            base: d.base,
            irq: d.irq,
            ...statsOf(d.device),
          })),
        };
      case 'screenshot': {
        if (!this.display) throw new Error('this machine has no display');
        const f = this.display.frame();
        if (!f.width || !f.height) throw new Error('the guest shows nothing yet');
        // One filter (Paeth) for every row: pngjs's default tries all five per row, which cost 60–100 ms
        // of this thread (the machine's) at 1280×800 for a file only 2% smaller (measured: 21–32 ms).
        const png = PNG.sync.write(
          Object.assign(new PNG({ width: f.width, height: f.height }), { data: Buffer.from(f.rgba.buffer) }),
          { filterType: 4 },
        );
        return { width: f.width, height: f.height, png: png.toString('base64') };
      }
      case 'resize':
        if (!this.display) throw new Error('this machine has no display');
        this.display.requestSize(r.width, r.height);
        return {};
      case 'shutdown':
        return { message: this.requestShutdown('shutdown', 'vdesk shutdown') };
      case 'reboot':
        return { message: this.requestShutdown('reboot', 'vdesk reboot') };
      case 'unplug': {
        const { acked } = await m.unplug(r.device);
        return {
          message: acked
            ? `removed ${r.device}`
            : `removed ${r.device} (the guest did not confirm within 5 s)`,
        };
      }
      case 'hotplug': {
        // The entry comes from a client: validate it exactly as a manifest's device entry, and load only a
        // package installed where the manifest's own packages come from.
        const entry = parseManifest({ devices: [r.device] }, 'hotplug').devices[0];
        if (!this.o.hotplugDirs.some((d) => installedFrom(d, entry.package)))
          throw new Error(
            `hotplug: package ${entry.package} is not installed in ${this.o.hotplugDirs.join(' or ')} (node_modules)`,
          );
        const p = await m.hotplug(entry);
        return { device: p.id, base: p.base, irq: p.irq, slot: p.slot };
      }
      case 'snapshot': {
        const t0 = performance.now();
        let paused = 0;
        const h = await saveSnapshotFile(m, r.file, (ms) => (paused = ms));
        return {
          file: r.file,
          bytes: h.fileBytes,
          ramSize: h.ramSize,
          ramInUse: h.ramInUse,
          pausedMs: paused,
          ms: performance.now() - t0,
        };
      }
      case 'key':
        this.input.chords(r.keys);
        return {};
      case 'type':
        return { typed: await this.input.type(r.text, r.intervalMs) };
      case 'move': {
        const [x, y] = this.toUnit(r.x, r.y);
        this.input.move(x, y);
        return {};
      }
      case 'click': {
        const [x, y] = this.toUnit(r.x, r.y);
        this.input.click(x, y, r.button);
        return {};
      }
      case 'scroll':
        this.input.scroll(r.dy, r.dx);
        return {};
      case 'touch': {
        const frames = r.frames.at(-1)?.length ? [...r.frames, []] : r.frames; // fingers lift at the end
        for (const [i, f] of frames.entries()) {
          // Aborted when the machine stops, so a long gesture never keeps vdesk run alive.
          if (i > 0 && r.intervalMs > 0) await sleep(r.intervalMs, undefined, { signal });
          signal.throwIfAborted();
          await this.input.touchFrame(
            f.map((c) => {
              const [x, y] = this.toUnit(c.x, c.y);
              return { id: c.id, x, y };
            }),
          );
        }
        return { frames: frames.length };
      }
    }
  }

  /** Screen pixels → 0..1; without a display, coordinates are already in the devices' 0..32767. */
  private toUnit(x: number, y: number): [number, number] {
    const s = this.display?.size();
    return s ? [x / Math.max(1, s.width - 1), y / Math.max(1, s.height - 1)] : [x / ABS_MAX, y / ABS_MAX];
  }
}

/** Whether `name` (a bare package name) is installed in a node_modules at or above `dir`. */
function installedFrom(dir: string, name: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'node_modules', name, 'package.json'))) return true;
    if (path.dirname(d) === d) return false;
  }
}

/** A device's counters, when it keeps a flat record of numbers named `stats` (virtio-blk does). */
function statsOf(device: object): { stats?: Record<string, number> } {
  const s: unknown = (device as { stats?: unknown }).stats;
  if (typeof s !== 'object' || s === null) return {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) if (typeof v === 'number') out[k] = v;
  return { stats: out };
}
