/**
 * Host-side input latency: from an API call (a key press, a pointer move, a touch frame) to its events in
 * the guest's used ring, through the real virtio-mmio transport and split rings, with a driver that
 * re-posts buffers as Linux's virtio_input does. p50/p99 over 10,000 events per kind, five runs; the
 * medians of those are printed with their spread.
 *
 *   pnpm --filter @virtio-desktop/virtio-input bench
 */
import { MmioTransport, Ram } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import {
  EVENT_SIZE,
  Keyboard,
  Pointer,
  QueueIndex,
  Touchscreen,
  type VirtioInputDevice,
} from '../src/index.js';

const N = 10_000;
const RUNS = 5;

function rig<D extends VirtioInputDevice>(dev: D) {
  const ram = new Ram(0x8000_0000, 4 << 20);
  const t = new MmioTransport(dev, { memory: ram, irq: { set() {} } });
  const drv = new VirtioTestDriver(t, ram, 0x8000_1000);
  if (!drv.init(1n << 32n, [64, 64])) throw new Error('probe failed');
  const post = (k: number) => {
    for (let i = 0; i < k; i++) drv.add(QueueIndex.Event, { inLens: [EVENT_SIZE] });
    drv.kick(QueueIndex.Event, true);
  };
  post(64);
  return { dev, drv, post };
}

function measure<D extends VirtioInputDevice>(dev: D, act: (d: D, i: number) => void): number[] {
  const { drv, post } = rig(dev);
  const lat = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    act(dev, i);
    const used = drv.takeUsed(QueueIndex.Event);
    lat[i] = (performance.now() - t0) * 1000;
    if (used.length === 0) throw new Error(`event ${i} did not reach the used ring`);
    post(used.length); // the driver hands the buffers back, as virtinput_recv_events does
  }
  lat.sort();
  return [lat[Math.floor(N * 0.5)], lat[Math.floor(N * 0.99)]];
}

const kinds: [string, () => number[]][] = [
  ['key press', () => measure(new Keyboard(), (d, i) => d.key(30, i % 2 === 0))],
  ['pointer move', () => measure(new Pointer(), (d, i) => d.move(i % 30000, (i * 7) % 30000))],
  [
    'two-finger touch frame',
    () =>
      measure(new Touchscreen(), (d, i) =>
        d.contacts([
          { id: 1, x: i % 30000, y: 100 },
          { id: 2, x: 200, y: i % 30000 },
        ]),
      ),
  ],
];

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`virtio-input host-side latency, API call → used ring: ${N} events × ${RUNS} runs, µs`);
for (const [name, run] of kinds) {
  const p50: number[] = [];
  const p99: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const [a, b] = run();
    p50.push(a);
    p99.push(b);
  }
  const f = (xs: number[]) =>
    `${med(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  console.log(`${name.padEnd(24)} p50 ${f(p50)}  p99 ${f(p99)}`);
}
