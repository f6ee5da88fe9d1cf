import {
  DeviceId,
  Interrupt,
  MmioReg as R,
  Status as DevStatus,
  bit,
  type DevicePlugin,
} from '@virtio-desktop/virtio-core';
import { describe, expect, it, vi } from 'vitest';
import plugin, { VirtioPowerDevice, type AckInfo } from '../src/index.js';
import {
  AckResult,
  Command,
  ConfigOffset as C,
  EventType,
  HostRequest,
  MAX_READ,
  PowerFeature,
  QueueIndex,
  IrqType,
  RequestType,
  Status,
  Transport,
  VIRTIO_ID_POWER,
  decodeInventory,
  encodeRequest,
  type PowerEvent,
} from '../src/protocol.js';
import { ALL_POWER, sampleInventory, setup } from './helpers.js';

const UUID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

function running(devices = 3, want = ALL_POWER) {
  const inv = { current: sampleInventory(devices) };
  const s = setup({ inventory: () => inv.current, name: 'test-desk', uuid: UUID });
  const got = { poweroff: [] as string[], reboot: [] as string[], ack: [] as AckInfo[] };
  s.dev.on('poweroff', (v) => got.poweroff.push(v));
  s.dev.on('reboot', (v) => got.reboot.push(v));
  s.dev.on('ack', (a) => got.ack.push(a));
  expect(s.drv.probe(want)).toBe(true);
  return { ...s, inv, got };
}

describe('probe and configuration', () => {
  it('is device 58 (VIRTIO_ID_POWER) with two queues and offers the three optional features', () => {
    const { drv } = setup();
    expect(VIRTIO_ID_POWER).toBe(58);
    // The machine finds the power device (fixed slot, events) by virtio-core's constant: they must agree.
    expect(DeviceId.Power).toBe(VIRTIO_ID_POWER);
    expect(drv.reg(R.DeviceId)).toBe(VIRTIO_ID_POWER);
    expect(drv.deviceFeatures() & ALL_POWER).toBe(ALL_POWER);
    expect(drv.deviceFeatures() & bit(3)).toBe(0n); // SUSPEND is reserved, never offered
    expect(drv.probe(ALL_POWER)).toBe(true);
    expect(drv.queues.map((q) => q.size)).toEqual([16, 64]);
    // No version field: revisions are told apart by feature bits.
    expect(drv.cfg32(C.Reserved0)).toBe(0);
    expect(drv.cfg32(C.MaxRead)).toBe(MAX_READ);
  });

  it('works with a driver that negotiates no optional feature', () => {
    const { drv, got, logs } = running(3, 0n);
    // Inventory and acks are refused, power-off still works.
    expect(drv.request({ type: RequestType.InventoryRead, arg1: 64 }, 80).resp?.status).toBe(
      Status.Unsupported,
    );
    expect(drv.request({ type: RequestType.Ack, arg0: 1 }).resp?.status).toBe(Status.Unsupported);
    expect(logs.join('\n')).toMatch(/without INVENTORY/);
    drv.setReg(R.Config + C.Command, Command.PowerOff);
    expect(got.poweroff).toEqual(['command']);
  });

  it('reads as a minimal device when it offers no optional feature', () => {
    const s = setup({ offer: { inventory: false, hostRequests: false, hotplug: false } });
    expect(s.drv.deviceFeatures() & ALL_POWER).toBe(0n);
    expect(s.drv.probe(ALL_POWER)).toBe(true);
    expect(s.drv.cfg32(C.InventorySize)).toBe(0);
    expect(s.drv.cfg32(C.MaxRead)).toBe(0);
    s.dev.announceHotplug({ kind: 'add', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    expect(s.drv.events()).toEqual([]);
    expect(s.dev.acceptsHostRequests).toBe(false);
  });

  it('reads config with narrow accesses and ignores writes other than command', () => {
    const { drv, t, logs } = running();
    const size = drv.cfg32(C.InventorySize);
    expect(t.read(R.Config + C.InventorySize, 2)).toBe(size & 0xffff);
    expect(t.read(R.Config + C.InventorySize + 1, 1)).toBe((size >> 8) & 0xff);
    t.write(R.Config + C.HostRequest, 4, 1);
    expect(drv.cfg32(C.HostRequest)).toBe(0);
    expect(drv.cfg32(C.Command)).toBe(0);
    expect(logs.join('\n')).toMatch(/ignored 4-byte config write at 0x4/);
  });
});

describe('inventory', () => {
  it('serves the inventory in one read and matches the config size', () => {
    const { drv } = running(3);
    const { blob, reads, generation } = drv.readInventory();
    expect(reads).toBe(1);
    expect(blob.length).toBe(drv.cfg32(C.InventorySize));
    expect(generation).toBe(drv.cfg32(C.InventoryGeneration));
    const inv = decodeInventory(blob);
    if (typeof inv === 'string') throw new Error(inv);
    expect(inv.name).toBe('test-desk');
    expect(inv.uuid).toBe(UUID);
    expect(inv.harts).toBe(4);
    expect(inv.ramSize).toBe(2 ** 31);
    expect(inv.devices[1]).toMatchObject({
      deviceId: 2,
      base: 0x1000_2000,
      size: 0x1000,
      irq: 33,
      name: 'virtio-blk-1',
    });
  });

  it('pages an inventory bigger than 4 KiB', () => {
    const { drv } = running(200); // 128 + 200 * 72 = 14 528 bytes
    expect(drv.cfg32(C.InventorySize)).toBe(14528);
    const { blob, reads } = drv.readInventory(4096);
    expect(reads).toBe(4);
    const inv = decodeInventory(blob);
    if (typeof inv === 'string') throw new Error(inv);
    expect(inv.devices).toHaveLength(200);
    expect(inv.devices[199].irq).toBe(32 + 199);
  });

  it('shortens a read to the writable space and to max_read', () => {
    const { drv } = running(200);
    const r = drv.request({ type: RequestType.InventoryRead, arg0: 100, arg1: 0xffffffff }, 16 + 50);
    expect(r.resp).toMatchObject({ status: 0, totalSize: 14528, length: 50 });
    expect(r.used).toBe(66);
    const big = running(1023);
    const r2 = big.drv.request({ type: RequestType.InventoryRead, arg1: 0xffffffff }, 16 + 70000);
    expect(r2.resp?.length).toBe(MAX_READ);
  });

  it('reads zero bytes at the end and rejects an offset past it', () => {
    const { drv, logs } = running(3);
    const size = drv.cfg32(C.InventorySize);
    expect(drv.request({ type: RequestType.InventoryRead, arg0: size, arg1: 16 }, 32).resp).toMatchObject({
      status: 0,
      length: 0,
    });
    const bad = drv.request({ type: RequestType.InventoryRead, arg0: size + 1, arg1: 16 }, 32);
    expect(bad.resp?.status).toBe(Status.Invalid);
    expect(bad.used).toBe(16);
    expect(logs.join('\n')).toMatch(/offset .* past/);
  });

  it('bumps the generation when the machine changes, and a paged reader restarts', () => {
    const { drv, dev, inv, irq } = running(100);
    const g0 = drv.cfg32(C.InventoryGeneration);
    const genReg = drv.reg(R.ConfigGeneration);
    // Change the machine between the first and second page.
    const first = drv.request({ type: RequestType.InventoryRead, arg1: 4096 }, 16 + 4096);
    inv.current = sampleInventory(101);
    dev.inventoryChanged();
    const second = drv.request({ type: RequestType.InventoryRead, arg0: 4096, arg1: 4096 }, 16 + 4096);
    expect(second.resp!.generation).not.toBe(first.resp!.generation);
    expect(drv.cfg32(C.InventoryGeneration)).toBe(g0 + 1);
    expect(drv.reg(R.ConfigGeneration)).toBeGreaterThan(genReg);
    expect(irq.level).toBe(true);
    expect(drv.ackInterrupt() & Interrupt.ConfigChange).toBeTruthy();
    const d = decodeInventory(drv.readInventory().blob);
    if (typeof d === 'string') throw new Error(d);
    expect(d.devices).toHaveLength(101);
  });

  it('serves an empty inventory when the provider throws or returns garbage', () => {
    const a = setup({
      inventory: () => {
        throw new Error('no machine');
      },
      uuid: UUID,
    });
    a.drv.probe(ALL_POWER);
    const d = decodeInventory(a.drv.readInventory().blob);
    expect(typeof d === 'string' ? d : d.devices).toEqual([]);
    expect(a.logs.join('\n')).toMatch(/provider threw: Error: no machine/);
    const b = setup({ inventory: () => ({ ...sampleInventory(2), harts: -3 }) });
    b.drv.probe(ALL_POWER);
    const e = decodeInventory(b.drv.readInventory().blob);
    expect(typeof e === 'string' ? e : e.harts).toBe(0);
    expect(b.logs.join('\n')).toMatch(/inventory rejected/);
  });
});

describe('guest power-off and reboot', () => {
  it('powers off and reboots through the command register, even after a reset', () => {
    const { drv, got } = running();
    drv.setReg(R.Config + C.Command, Command.Reboot);
    expect(got.reboot).toEqual(['command']);
    // Linux resets every virtio device in device_shutdown() before its sys-off handlers run.
    drv.setReg(R.Status, 0);
    drv.setReg(R.Config + C.Command, Command.PowerOff);
    expect(got.poweroff).toEqual(['command']);
  });

  it('ignores unkeyed or partial command writes', () => {
    const { drv, t, got, logs } = running();
    t.write(R.Config + C.Command, 1, 1);
    t.write(R.Config + C.Command, 2, 0x0001);
    drv.setReg(R.Config + C.Command, 1);
    drv.setReg(R.Config + C.Command, 0x50570009);
    expect(got.poweroff).toEqual([]);
    expect(logs.join('\n')).toMatch(/unknown command 0x50570009/);
  });

  it('powers off and reboots through the requestq, answering first', () => {
    const { drv, dev, got } = running();
    let seen = -1;
    dev.on('poweroff', () => (seen = drv.ram.readU16(drv.queues[QueueIndex.Request].used + 2)));
    expect(drv.request({ type: RequestType.PowerOff }).resp?.status).toBe(Status.Ok);
    expect(seen).toBe(1); // the response was in the used ring before the host heard about it
    expect(drv.request({ type: RequestType.Reboot }).resp?.status).toBe(Status.Ok);
    expect(got).toMatchObject({ poweroff: ['request'], reboot: ['request'] });
  });

  it('contains a host listener that throws', () => {
    const { drv, dev, logs } = running();
    dev.on('poweroff', () => {
      throw new Error('host bug');
    });
    expect(() => drv.setReg(R.Config + C.Command, Command.PowerOff)).not.toThrow();
    expect(logs.join('\n')).toMatch(/listener threw/);
  });
});

describe('host requests', () => {
  it('posts a shutdown request in config with a config interrupt, and the guest ack clears it', () => {
    const { drv, dev, got, irq } = running();
    expect(dev.acceptsHostRequests).toBe(true);
    const seq = dev.requestShutdown();
    expect(irq.level).toBe(true);
    expect(drv.ackInterrupt()).toBe(Interrupt.ConfigChange);
    expect(drv.cfgStable([C.HostRequest, C.HostRequestSeq])).toEqual([HostRequest.PowerOff, seq]);
    expect(drv.request({ type: RequestType.Ack, arg0: seq, arg1: AckResult.Accepted }).resp?.status).toBe(0);
    expect(got.ack).toEqual([{ seq, kind: 'poweroff', accepted: true }]);
    expect(drv.cfg32(C.HostRequest)).toBe(HostRequest.None);
    // The guest then shuts down and writes the command.
    drv.setReg(R.Config + C.Command, Command.PowerOff);
    expect(got.poweroff).toEqual(['command']);
  });

  it('a newer request replaces an older one; an ack of the old seq is refused', () => {
    const { drv, dev, got, logs } = running();
    const s1 = dev.requestReboot();
    const s2 = dev.requestShutdown();
    expect(s2).toBeGreaterThan(s1);
    expect(drv.cfgStable([C.HostRequest, C.HostRequestSeq])).toEqual([HostRequest.PowerOff, s2]);
    expect(drv.request({ type: RequestType.Ack, arg0: s1 }).resp?.status).toBe(Status.Invalid);
    expect(logs.join('\n')).toMatch(/stale seq/);
    expect(drv.request({ type: RequestType.Ack, arg0: s2, arg1: AckResult.Refused }).resp?.status).toBe(0);
    expect(got.ack).toEqual([{ seq: s2, kind: 'poweroff', accepted: false }]);
  });

  it('keeps a request made before the driver loaded, and across a driver reset', () => {
    const s = setup({ inventory: () => sampleInventory(1) });
    expect(s.dev.acceptsHostRequests).toBe(false);
    const seq = s.dev.requestReboot();
    s.drv.probe(ALL_POWER);
    expect(s.drv.cfgStable([C.HostRequest, C.HostRequestSeq])).toEqual([HostRequest.Reboot, seq]);
    s.drv.setReg(R.Status, 0);
    expect(s.drv.cfg32(C.HostRequest)).toBe(HostRequest.Reboot);
    s.dev.cancelHostRequest();
    expect(s.drv.cfg32(C.HostRequest)).toBe(0);
  });

  it('clears a pending request once the guest powers off, with a config change notification (PD-3)', () => {
    const { drv, dev, irq } = running();
    dev.requestReboot();
    expect(drv.ackInterrupt()).toBe(Interrupt.ConfigChange);
    const gen = drv.reg(R.ConfigGeneration);
    drv.setReg(R.Config + C.Command, Command.Reboot);
    expect(dev.pendingHostRequest.request).toBe(HostRequest.None);
    expect(irq.level).toBe(true);
    expect(drv.ackInterrupt()).toBe(Interrupt.ConfigChange);
    expect(drv.reg(R.ConfigGeneration)).not.toBe(gen);
  });

  it('a forced power-off is a separate, later request with its own value', () => {
    const { drv, dev, got } = running();
    const press = dev.requestShutdown();
    expect(drv.cfgStable([C.HostRequest, C.HostRequestSeq])).toEqual([HostRequest.PowerOff, press]);
    const force = dev.requestForcedShutdown();
    expect(force).toBeGreaterThan(press);
    expect(drv.cfgStable([C.HostRequest, C.HostRequestSeq])).toEqual([HostRequest.ForcePowerOff, force]);
    expect(HostRequest.ForcePowerOff).toBe(4);
    expect(drv.request({ type: RequestType.Ack, arg0: force }).resp?.status).toBe(0);
    expect(got.ack).toEqual([{ seq: force, kind: 'poweroff', accepted: true }]);
  });
});

describe('hotplug', () => {
  it('delivers add and remove events, and the guest acks them', () => {
    const { drv, dev, got } = running();
    const g0 = drv.cfg32(C.InventoryGeneration);
    const a = dev.announceHotplug({ kind: 'add', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    const r = dev.announceHotplug({ kind: 'remove', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    expect(drv.cfg32(C.InventoryGeneration)).toBe(g0 + 2);
    const mmio = { transport: Transport.VirtioMmio, irqType: IrqType.LevelHigh };
    expect(drv.events()).toEqual([
      { type: EventType.DeviceAdded, seq: a, deviceId: 2, irq: 40, base: 0x1000_9000, size: 0x1000, ...mmio },
      {
        type: EventType.DeviceRemoved,
        seq: r,
        deviceId: 2,
        irq: 40,
        base: 0x1000_9000,
        size: 0x1000,
        ...mmio,
      },
    ]);
    drv.request({ type: RequestType.Ack, arg0: r });
    drv.request({ type: RequestType.Ack, arg0: a });
    expect(got.ack).toEqual([
      { seq: r, kind: 'remove', accepted: true },
      { seq: a, kind: 'add', accepted: true },
    ]);
    expect(drv.request({ type: RequestType.Ack, arg0: a }).resp?.status).toBe(Status.Invalid);
  });

  it('holds events until the driver posts buffers; EVENTS_LOST comes after the events queued before the drop', () => {
    const s = setup({ maxPendingEvents: 2 });
    const acks: AckInfo[] = [];
    s.dev.on('ack', (a) => acks.push(a));
    s.drv.probe(ALL_POWER, 0);
    const add = (i: number) =>
      s.dev.announceHotplug({
        kind: 'add',
        deviceId: 2,
        base: 0x1000_9000 + i * 0x1000,
        size: 0x1000,
        irq: 40 + i,
      });
    const seqs = [0, 1, 2, 3].map(add);
    expect(s.logs.join('\n')).toMatch(/event queue full/);
    // The host hears at once that the two dropped events will never be acknowledged.
    expect(acks).toEqual([
      { seq: seqs[2], kind: 'add', accepted: false, dropped: 'overflow' },
      { seq: seqs[3], kind: 'add', accepted: false, dropped: 'overflow' },
    ]);
    s.drv.add(QueueIndex.Event, { inLens: [32] });
    s.drv.kick(QueueIndex.Event, true);
    // One buffer: the oldest event, not the loss marker (PD-11: in the order the changes happened).
    expect(s.drv.events().map((e) => [e.type, e.irq])).toEqual([[EventType.DeviceAdded, 40]]);
    add(4); // after the drop: must follow the marker
    for (let i = 0; i < 4; i++) s.drv.add(QueueIndex.Event, { inLens: [32] });
    s.drv.kick(QueueIndex.Event, true);
    expect(s.drv.events().map((e) => [e.type, e.irq])).toEqual([
      [EventType.DeviceAdded, 41],
      [EventType.EventsLost, 0],
      [EventType.DeviceAdded, 44],
    ]);
  });

  it('bounds what it holds under a flood: one marker per run of drops', () => {
    const s = setup({ maxPendingEvents: 4 });
    s.drv.probe(ALL_POWER, 0);
    for (let i = 0; i < 1000; i++)
      s.dev.announceHotplug({
        kind: i % 2 ? 'remove' : 'add',
        deviceId: 2,
        base: 0x1000_9000,
        size: 0x1000,
        irq: 40,
      });
    for (let i = 0; i < 16; i++) s.drv.add(QueueIndex.Event, { inLens: [32] });
    s.drv.kick(QueueIndex.Event, true);
    const types = s.drv.events().map((e) => e.type);
    expect(types).toHaveLength(5);
    expect(types.at(-1)).toBe(EventType.EventsLost);
  });

  it('tells the host at reset that delivered events will not be acknowledged', () => {
    const { drv, dev, got } = running();
    const a = dev.announceHotplug({ kind: 'add', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    expect(drv.events()).toHaveLength(1);
    drv.setReg(R.Status, 0);
    expect(got.ack).toEqual([{ seq: a, kind: 'add', accepted: false, dropped: 'reset' }]);
    drv.probe(ALL_POWER);
    expect(drv.request({ type: RequestType.Ack, arg0: a }).resp?.status).toBe(Status.Invalid);
  });

  it('gives each hotplugged device an instance, so a re-add at the same base is told from a stale one', () => {
    const { drv, dev, inv } = running(2);
    const base = 0x1000_9000;
    const entry = { deviceId: 2, base, size: 0x1000, irq: 40, name: 'virtio-blk', hotplugged: true };
    inv.current = { ...inv.current, devices: [...inv.current.devices, entry] };
    const a1 = dev.announceHotplug({ kind: 'add', deviceId: 2, base, size: 0x1000, irq: 40 });
    const inst = () => {
      const d = decodeInventory(drv.readInventory().blob);
      if (typeof d === 'string') throw new Error(d);
      return d.devices.map((e) => e.instance);
    };
    expect(inst()).toEqual([0, 0, a1]);
    dev.announceHotplug({ kind: 'remove', deviceId: 2, base, size: 0x1000, irq: 40 });
    const a2 = dev.announceHotplug({ kind: 'add', deviceId: 2, base, size: 0x1000, irq: 40 });
    expect(a2).not.toBe(a1);
    expect(inst()).toEqual([0, 0, a2]);
    const evs: PowerEvent[] = drv.events();
    expect(evs.map((e) => e.seq)).toEqual([a1, a1 + 1, a2]);
  });

  it('describes a device without an interrupt and a virtio-pci function', () => {
    const { drv, dev } = running();
    dev.announceHotplug({
      kind: 'add',
      deviceId: 1,
      base: 0x0000_0800,
      size: 0,
      irq: 0,
      irqType: IrqType.None,
      transport: 'VirtioPci',
    });
    expect(drv.events()).toMatchObject([{ transport: Transport.VirtioPci, irqType: IrqType.None, irq: 0 }]);
  });

  it('drops undelivered events at reset (a new driver starts from the inventory)', () => {
    const s = setup();
    s.drv.probe(ALL_POWER, 0);
    s.dev.announceHotplug({ kind: 'add', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    s.drv.probe(ALL_POWER, 4);
    expect(s.drv.events()).toEqual([]);
  });

  it('sends no events to a driver without HOTPLUG', () => {
    const { drv, dev } = running(3, bit(PowerFeature.Inventory));
    dev.announceHotplug({ kind: 'add', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    expect(drv.events()).toEqual([]);
  });

  it('consumes malformed event buffers with a log line and keeps going', () => {
    const s = setup();
    s.drv.probe(ALL_POWER, 0);
    s.drv.add(QueueIndex.Event, { out: [new Uint8Array(32)] }); // wrong direction
    s.drv.add(QueueIndex.Event, { inLens: [8] }); // too short
    s.drv.add(QueueIndex.Event, { inLens: [32] });
    s.drv.kick(QueueIndex.Event, true);
    s.dev.announceHotplug({ kind: 'add', deviceId: 2, base: 0x1000_9000, size: 0x1000, irq: 40 });
    expect(s.drv.takeUsed(QueueIndex.Event).map((u) => u.len)).toEqual([0, 0, 32]);
    expect(s.logs.join('\n')).toMatch(/event buffer .* malformed/);
  });
});

describe('malformed requests', () => {
  const cases: [
    string,
    (d: ReturnType<typeof running>['drv']) => { status?: number; used: number },
    RegExp,
  ][] = [
    [
      'a short request',
      (d) => {
        const { head } = d.add(QueueIndex.Request, { out: [new Uint8Array(8)], inLens: [16] });
        d.kick(QueueIndex.Request, true);
        const u = d.takeUsed(QueueIndex.Request).find((x) => x.id === head)!;
        return { used: u.len, status: 2 };
      },
      /short request \(8/,
    ],
    [
      'an unknown type',
      (d) => ({ status: d.request({ type: 99 }).resp?.status, used: 16 }),
      /unknown request type 99/,
    ],
    [
      'reserved flags',
      (d) => ({ status: d.request({ type: RequestType.PowerOff, flags: 1 }).resp?.status, used: 16 }),
      /reserved flags/,
    ],
    [
      'a power request with arguments',
      (d) => ({ status: d.request({ type: RequestType.Reboot, arg0: 1 }).resp?.status, used: 16 }),
      /power request with arguments/,
    ],
    [
      'an ack with an unknown result',
      (d) => ({ status: d.request({ type: RequestType.Ack, arg0: 1, arg1: 7 }).resp?.status, used: 16 }),
      /ack result 7/,
    ],
    [
      'a request in a device-writable buffer (wrong direction)',
      (d) => {
        const { head, inAddrs } = d.add(QueueIndex.Request, { inLens: [32] });
        d.ram.write(inAddrs[0], encodeRequest({ type: RequestType.PowerOff, flags: 0, arg0: 0, arg1: 0 }));
        d.kick(QueueIndex.Request, true);
        const u = d.takeUsed(QueueIndex.Request).find((x) => x.id === head)!;
        return { used: u.len, status: d.ram.readU32(inAddrs[0]) };
      },
      /short request \(0/,
    ],
  ];
  for (const [name, run, msg] of cases) {
    it(`answers ${name} with an error status and a log line`, () => {
      const s = running();
      const r = run(s.drv);
      expect(r.used).toBe(16);
      expect(r.status).not.toBe(Status.Ok);
      expect(s.logs.join('\n')).toMatch(msg);
      expect(s.got.poweroff).toEqual([]);
      expect(s.got.reboot).toEqual([]);
      // Still serving.
      expect(s.drv.request({ type: RequestType.InventoryRead, arg1: 16 }, 32).resp?.status).toBe(0);
    });
  }

  it('completes a request with no room for a status with length 0', () => {
    const { drv, got, logs } = running();
    const { head } = drv.add(QueueIndex.Request, {
      out: [encodeRequest({ type: 3, flags: 0, arg0: 0, arg1: 0 })],
      inLens: [8],
    });
    drv.kick(QueueIndex.Request, true);
    expect(drv.takeUsed(QueueIndex.Request)).toEqual([{ id: head, len: 0 }]);
    expect(got.poweroff).toEqual([]);
    expect(logs.join('\n')).toMatch(/no room for a status/);
  });

  it('survives random requests without throwing or allocating without bound', () => {
    const { drv, dev } = running(5);
    dev.requestShutdown();
    let seed = 99;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    for (let i = 0; i < 2000; i++) {
      const type = rnd() % 6;
      const r = {
        type,
        flags: rnd() % 8 === 0 ? 1 : 0,
        arg0: rnd() % 3 === 0 ? rnd() : rnd() % 600,
        arg1: rnd(),
      };
      if (type === RequestType.PowerOff || type === RequestType.Reboot) continue;
      expect(() => drv.request(r, 16 + (rnd() % 256))).not.toThrow();
    }
    expect(drv.status & DevStatus.DeviceNeedsReset).toBe(0);
  });
});

describe('plugin', () => {
  it('is a DevicePlugin named virtio-power that validates its options', async () => {
    const p: DevicePlugin = plugin;
    expect(p.name).toBe('virtio-power');
    expect(() => p.parseOptions({ uuid: 'nope' })).toThrow(/uuid/);
    expect(() => p.parseOptions({ colour: 1 })).toThrow(/unknown option "colour"/);
    // A function is a host service, not a JSON option: it comes through ctx.machine.
    expect(() => p.parseOptions({ inventory: () => sampleInventory(2) })).toThrow(
      /unknown option "inventory"/,
    );
    expect(() => p.parseOptions({ name: 'x'.repeat(48) })).toThrow(/47 bytes/);
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const opts = p.parseOptions({ name: 'desk' });
    const dev = await p.create(opts, {
      memory: setup().ram,
      log,
      machine: { name: 'from-machine', uuid: UUID, inventory: () => sampleInventory(2) },
    });
    expect(dev).toBeInstanceOf(VirtioPowerDevice);
    const d = decodeInventory((dev as VirtioPowerDevice).inventoryBlob());
    expect(typeof d === 'string' ? d : [d.name, d.uuid, d.devices.length]).toEqual(['desk', UUID, 2]);
    // Without options the machine's name is used; an interrupt controller the package does not know
    // is reported as Unknown instead of failing.
    const dev2 = (await p.create(p.parseOptions({}), {
      memory: setup().ram,
      log,
      machine: {
        name: 'from-machine',
        inventory: () => ({ ...sampleInventory(1), interruptController: 'SomeoneElsesIrqchip' }),
      },
    })) as VirtioPowerDevice;
    const d2 = decodeInventory(dev2.inventoryBlob());
    // 0: InterruptController.Unknown on the wire.
    expect(typeof d2 === 'string' ? d2 : [d2.name, d2.interruptController]).toEqual(['from-machine', 0]);
  });
});

describe('escalation of an unanswered power-off (PD-12)', () => {
  const probed = (opts: { forceAfterMs?: number } = {}) => {
    const s = setup({ inventory: () => sampleInventory(1), ...opts });
    expect(s.drv.probe(ALL_POWER)).toBe(true);
    return s;
  };

  it('insists with FORCE_POWER_OFF when the guest has not powered off in time, once', () => {
    vi.useFakeTimers();
    try {
      const { drv, dev, logs } = probed({ forceAfterMs: 5000 });
      const press = dev.requestShutdown();
      // The guest acks the press (its desktop got a power key) and then does nothing.
      expect(drv.request({ type: RequestType.Ack, arg0: press }).resp?.status).toBe(0);
      vi.advanceTimersByTime(4999);
      expect(dev.pendingHostRequest.request).toBe(HostRequest.None);
      vi.advanceTimersByTime(1);
      const forced = dev.pendingHostRequest;
      expect(forced.request).toBe(HostRequest.ForcePowerOff);
      expect(forced.seq).toBeGreaterThan(press);
      expect(drv.cfgStable([C.HostRequest, C.HostRequestSeq])).toEqual([
        HostRequest.ForcePowerOff,
        forced.seq,
      ]);
      expect(logs.join('\n')).toMatch(/did not power off within 5 s .*FORCE_POWER_OFF/);
      vi.advanceTimersByTime(60_000);
      expect(dev.pendingHostRequest.seq).toBe(forced.seq);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not insist after the guest powered off, a newer request, a withdrawal, or with 0', () => {
    vi.useFakeTimers();
    try {
      const off = probed({ forceAfterMs: 1000 });
      off.dev.requestShutdown();
      off.drv.setReg(R.Config + C.Command, Command.PowerOff);
      const reboot = probed({ forceAfterMs: 1000 });
      reboot.dev.requestShutdown();
      const r = reboot.dev.requestReboot();
      const cancelled = probed({ forceAfterMs: 1000 });
      cancelled.dev.requestShutdown();
      cancelled.dev.cancelHostRequest();
      const never = probed({ forceAfterMs: 0 });
      const n = never.dev.requestShutdown();
      vi.advanceTimersByTime(100_000);
      expect(off.dev.pendingHostRequest.request).toBe(HostRequest.None);
      expect(reboot.dev.pendingHostRequest).toEqual({ request: HostRequest.Reboot, seq: r });
      expect(cancelled.dev.pendingHostRequest.request).toBe(HostRequest.None);
      expect(never.dev.pendingHostRequest).toEqual({ request: HostRequest.PowerOff, seq: n });
    } finally {
      vi.useRealTimers();
    }
  });

  it('a snapshot keeps the time left, and the restored device insists when it runs out', () => {
    vi.useFakeTimers();
    try {
      const a = probed({ forceAfterMs: 10_000 });
      a.dev.requestShutdown();
      vi.advanceTimersByTime(4000);
      const saved = a.dev.saveState();
      a.dev.cancelHostRequest();
      const b = setup({ inventory: () => sampleInventory(1), forceAfterMs: 10_000 });
      b.dev.restoreState(saved, null);
      vi.advanceTimersByTime(5999);
      expect(b.dev.pendingHostRequest.request).toBe(HostRequest.PowerOff);
      vi.advanceTimersByTime(1);
      expect(b.dev.pendingHostRequest.request).toBe(HostRequest.ForcePowerOff);
    } finally {
      vi.useRealTimers();
    }
  });

  it('the plugin takes forceAfterMs and refuses a bad one', () => {
    expect(plugin.parseOptions({ forceAfterMs: 2500 })).toEqual({ forceAfterMs: 2500 });
    expect(() => plugin.parseOptions({ forceAfterMs: -1 })).toThrow(/forceAfterMs/);
    expect(() => plugin.parseOptions({ forceAfterMs: 'soon' })).toThrow(/forceAfterMs/);
  });
});
