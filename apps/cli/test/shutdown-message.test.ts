import type { RiscvMachine } from '@virtio-desktop/machine';
import { describe, expect, it } from 'vitest';
import { Session } from '../src/session.js';

const log = { debug() {}, info() {}, warn() {}, error() {} };

function session(power: unknown) {
  const stopped: string[] = [];
  const machine = { devices: [], power, stop: (r: string) => stopped.push(r), requestReboot() {} };
  const s = new Session(machine as unknown as RiscvMachine, {
    name: 't',
    viewer: false,
    host: '127.0.0.1',
    port: 0,
    shutdownTimeoutMs: 1000,
    log,
    say() {},
    hotplugDirs: [],
  });
  return { s, stopped };
}

describe('SIGTERM without a graceful path', () => {
  it('blames the missing device, not a guest driver, when the machine has no virtio-power', () => {
    const { s, stopped } = session(undefined);
    expect(s.requestShutdown('shutdown', 'SIGTERM')).toBe(
      'the machine has no virtio-power device: stopped the machine',
    );
    expect(stopped).toEqual(['SIGTERM; the machine has no virtio-power device to shut down gracefully']);
  });
  it('blames the guest driver when the device is there but nothing listens', () => {
    const { s } = session({ acceptsHostRequests: false });
    expect(s.requestShutdown('shutdown', 'SIGTERM')).toBe(
      'no virtio-power driver in the guest: stopped the machine',
    );
  });
});
