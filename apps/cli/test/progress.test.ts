import { EventEmitter } from 'node:events';
import type { RiscvMachine } from '@virtio-desktop/machine';
import { describe, expect, it } from 'vitest';
import { watchBootProgress } from '../src/progress.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('boot progress', () => {
  it('reports each milestone once, in order, split across writes, and the time to a usable desktop', () => {
    const m = new EventEmitter();
    const said: string[] = [];
    const stop = watchBootProgress(m as unknown as RiscvMachine, (l) => said.push(l), performance.now());
    m.emit('console', enc('[    0.0] Linux version 6.12\nVDESK-DESKTOP-BO'));
    m.emit('console', enc('OT uptime=3.1\nnoise VDESK-X-READY uptime=9\n'));
    m.emit('console', enc('VDESK-X-READY again\n' + 'x'.repeat(100_000) + '\n'));
    m.emit('console', enc('VDESK-DESKTOP-READY uptime=20\n'));
    m.emit('console', enc('VDESK-DESKTOP-READY uptime=21\n'));
    expect(said).toHaveLength(3);
    expect(said[0]).toMatch(/^vdesk: \[ +\d+\.\d s\] kernel up, init started$/);
    expect(said[1]).toMatch(/X server accepts clients$/);
    expect(said[2]).toMatch(/time to a usable desktop \d+\.\d s$/);
    stop();
    expect(m.listenerCount('console')).toBe(0);
  });

  it('skips a milestone that never comes, and ignores a marker split over an over-long line', () => {
    const m = new EventEmitter();
    const said: string[] = [];
    watchBootProgress(m as unknown as RiscvMachine, (l) => said.push(l));
    m.emit('console', enc('x'.repeat(600) + 'VDESK-DESKTOP-BOOT\n'));
    m.emit('console', enc('VDESK-DESKTOP-READY uptime=20\n'));
    m.emit('console', enc('VDESK-X-READY uptime=21\n'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/usable desktop/);
  });
});
