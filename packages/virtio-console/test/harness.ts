/**
 * A guest for the console's tests: Linux's virtio_console driver as a sequence of queue operations —
 * probe with MULTIPORT, control buffers, DEVICE_READY, PORT_READY for each DEVICE_ADD, then a program
 * that opens a port, reads and writes it.
 */
import { MmioTransport, Ram, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import {
  ConsoleFeature,
  ControlEvent,
  ControlQueue,
  decodeControl,
  encodeControl,
  portQueues,
  type ControlMessage,
} from '../src/index.js';
import type { VirtioConsoleDevice } from '../src/index.js';

export const RAM_BASE = 0x8000_0000;
const RX_BUF = 4096;

export interface ReceivedControl extends ControlMessage {
  extra: Uint8Array;
}

export class FakeGuest {
  readonly ram = new Ram(RAM_BASE, 48 << 20);
  readonly logs: string[] = [];
  readonly drv: VirtioTestDriver;
  readonly t: MmioTransport;
  private readonly addrs = new Map<string, number>();
  readonly control: ReceivedControl[] = [];

  constructor(readonly dev: VirtioConsoleDevice) {
    const log: Logger = {
      debug: () => {},
      info: (m) => this.logs.push(m),
      warn: (m) => this.logs.push(m),
      error: (m) => this.logs.push(m),
    };
    this.t = new MmioTransport(dev, { memory: this.ram, irq: { set() {} }, log });
    this.drv = new VirtioTestDriver(this.t, this.ram, RAM_BASE + 0x1000);
  }

  /** Probe with MULTIPORT, post control buffers, DEVICE_READY, PORT_READY for each port added. */
  probe(): void {
    if (!this.drv.init((1n << BigInt(ConsoleFeature.Multiport)) | (1n << 32n)))
      throw new Error('init failed');
    this.postRx(ControlQueue.Rx, 16);
    this.sendControl({ id: 0, event: ControlEvent.DeviceReady, value: 1 });
    for (const m of this.readControl())
      if (m.event === ControlEvent.DeviceAdd)
        this.sendControl({ id: m.id, event: ControlEvent.PortReady, value: 1 });
    this.readControl();
    for (let p = 0; p < this.dev.ports.length; p++) this.postRx(portQueues(p).rx, 16);
  }

  postRx(qi: number, n: number, len = RX_BUF): void {
    for (let i = 0; i < n; i++) {
      const { head, inAddrs } = this.drv.add(qi, { inLens: [len] });
      this.addrs.set(`${qi}:${head}`, inAddrs[0]);
    }
    this.drv.kick(qi, true);
  }

  sendControl(m: ControlMessage): void {
    this.drv.add(ControlQueue.Tx, { out: [encodeControl(m)] });
    this.drv.kick(ControlQueue.Tx, true);
    this.drv.takeUsed(ControlQueue.Tx);
  }

  /** Control messages the device sent since the last call (buffers reposted). */
  readControl(): ReceivedControl[] {
    const got: ReceivedControl[] = [];
    for (const u of this.drv.takeUsed(ControlQueue.Rx)) {
      const b = this.ram.view(this.addrs.get(`${ControlQueue.Rx}:${u.id}`)!, u.len)!.slice();
      const m = decodeControl(b)!;
      got.push({ ...m, extra: b.subarray(8) });
      this.postRx(ControlQueue.Rx, 1);
    }
    this.control.push(...got);
    return got;
  }

  open(port: number, open = true): void {
    this.sendControl({ id: port, event: ControlEvent.PortOpen, value: open ? 1 : 0 });
  }

  /** A program's write(2): one transmit buffer. */
  write(port: number, bytes: Uint8Array): void {
    const q = portQueues(port).tx;
    this.drv.add(q, { out: [bytes] });
    this.drv.kick(q, true);
    this.drv.takeUsed(q);
  }

  /** Bytes the device put in the port's receive buffers since the last call (buffers reposted). */
  read(port: number): Uint8Array {
    const q = portQueues(port).rx;
    const parts: Uint8Array[] = [];
    for (const u of this.drv.takeUsed(q)) {
      parts.push(this.ram.view(this.addrs.get(`${q}:${u.id}`)!, u.len)!.slice());
      this.postRx(q, 1);
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
