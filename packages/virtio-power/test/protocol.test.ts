import { describe, expect, it } from 'vitest';
import {
  Command,
  EventType,
  INVENTORY_ENTRY_SIZE,
  INVENTORY_HEADER_SIZE,
  MAX_INVENTORY_DEVICES,
  decodeEvent,
  decodeInventory,
  decodeRequest,
  decodeResponse,
  encodeEvent,
  encodeInventory,
  encodeRequest,
  encodeResponse,
  formatUuid,
  parseUuid,
} from '../src/protocol.js';
import { sampleInventory } from './helpers.js';

const UUID = '123e4567-e89b-12d3-a456-426614174000';

describe('wire formats', () => {
  it('lays out the inventory header and entries at the documented offsets', () => {
    const b = encodeInventory({ ...sampleInventory(2), name: 'desk', uuid: UUID }, 7);
    const dv = new DataView(b.buffer);
    expect(b.length).toBe(INVENTORY_HEADER_SIZE + 2 * INVENTORY_ENTRY_SIZE);
    expect(dv.getUint32(0, true)).toBe(0x4e495056);
    expect(String.fromCharCode(...b.subarray(0, 4))).toBe('VPIN');
    expect(dv.getUint16(4, true)).toBe(1);
    expect(dv.getUint16(6, true)).toBe(128);
    expect(dv.getUint32(8, true)).toBe(b.length);
    expect(dv.getUint32(12, true)).toBe(7);
    expect(b[16]).toBe(0x12);
    expect(b[31]).toBe(0x00);
    expect(dv.getUint32(32, true)).toBe(0x8000_0000);
    expect(dv.getUint32(40, true)).toBe(0x8000_0000); // 2 GiB low word
    expect(dv.getUint32(48, true)).toBe(4);
    expect(dv.getUint16(52, true)).toBe(1); // PLIC
    expect(dv.getUint16(54, true)).toBe(1); // ACLINT mtimer
    expect([dv.getUint16(56, true), dv.getUint16(58, true)]).toEqual([0, 1]);
    expect(dv.getUint16(60, true)).toBe(72);
    expect(dv.getUint32(64, true)).toBe(2);
    expect(dv.getUint32(68, true)).toBe(128);
    expect(dv.getUint32(72, true)).toBe(0x0c00_0000); // irqchip_base
    expect(new TextDecoder().decode(b.subarray(80, 84))).toBe('desk');
    expect(b[84]).toBe(0);
    const e1 = 128 + 72;
    expect(dv.getUint32(e1, true)).toBe(2);
    expect(dv.getUint32(e1 + 4, true)).toBe(33);
    expect(dv.getUint32(e1 + 8, true)).toBe(0x1000_2000);
    expect(dv.getUint32(e1 + 16, true)).toBe(0x1000);
    expect(dv.getUint16(e1 + 24, true)).toBe(1);
    expect(dv.getUint16(128 + 26, true)).toBe(2); // SELF on entry 0
    expect(dv.getUint32(e1 + 28, true)).toBe(0); // instance: present at boot
    expect(b[e1 + 32]).toBe(4); // irq_type: level, active high
    expect(new TextDecoder().decode(b.subarray(e1 + 40, e1 + 52))).toBe('virtio-blk-1');
  });

  it('round-trips an inventory, 64-bit sizes included', () => {
    const inv = sampleInventory(5);
    const big = { ...inv, ramSize: 2 ** 40 + 4096, name: 'x', uuid: UUID };
    const d = decodeInventory(encodeInventory(big, 3));
    if (typeof d === 'string') throw new Error(d);
    expect(d.ramSize).toBe(2 ** 40 + 4096);
    expect(d.uuid).toBe(UUID);
    expect(d.devices.map((x) => x.name)).toEqual(inv.devices.map((x) => x.name));
    expect(d.devices[0].self).toBe(true);
  });

  it('cuts long names at a character boundary and keeps a NUL', () => {
    const name = 'é'.repeat(40); // 80 bytes
    const b = encodeInventory({ ...sampleInventory(0), name, uuid: UUID }, 1);
    const d = decodeInventory(b);
    if (typeof d === 'string') throw new Error(d);
    expect(d.name).toBe('é'.repeat(23)); // 46 bytes fit in 47
    expect(b[80 + 47]).toBe(0);
  });

  it('rejects inventories that do not fit the format', () => {
    const inv = { ...sampleInventory(0), name: 'x', uuid: UUID };
    expect(() => encodeInventory({ ...inv, harts: -1 }, 1)).toThrow(RangeError);
    expect(() => encodeInventory({ ...inv, ramSize: 2 ** 60 }, 1)).toThrow(RangeError);
    expect(() => encodeInventory({ ...inv, uuid: 'nope' }, 1)).toThrow(RangeError);
    const many = Array.from(
      { length: MAX_INVENTORY_DEVICES + 1 },
      () => inv.devices[0] ?? sampleInventory(1).devices[0],
    );
    expect(() => encodeInventory({ ...inv, devices: many }, 1)).toThrow(/limit/);
  });

  it('decodes defensively', () => {
    expect(decodeInventory(new Uint8Array(10))).toBe('shorter than the header');
    const b = encodeInventory({ ...sampleInventory(1), name: 'x', uuid: UUID }, 1);
    expect(decodeInventory(b.subarray(0, b.length - 1))).toMatch(/total_size/);
    const bad = b.slice();
    new DataView(bad.buffer).setUint32(64, 1000, true);
    expect(decodeInventory(bad)).toMatch(/outside/);
  });

  it('round-trips requests, responses and events', () => {
    const r = { type: 1, flags: 0, arg0: 4096, arg1: 0xffffffff };
    expect(decodeRequest(encodeRequest(r))).toEqual(r);
    expect(decodeRequest(new Uint8Array(15))).toBeNull();
    const s = { status: 2, generation: 9, totalSize: 100, length: 3 };
    expect(decodeResponse(encodeResponse(s))).toEqual(s);
    const e = {
      type: EventType.DeviceAdded,
      transport: 1,
      irqType: 4,
      seq: 5,
      deviceId: 2,
      irq: 40,
      base: 0x1_1000_9000,
      size: 0x1000,
    };
    const eb = encodeEvent(e);
    expect(eb.length).toBe(32);
    expect(new DataView(eb.buffer).getUint32(20, true)).toBe(1);
    expect([eb[2], eb[3]]).toEqual([1, 4]);
    expect(decodeEvent(eb)).toEqual(e);
    expect(decodeEvent(eb.subarray(0, 31))).toBeNull();
  });

  it('keys commands so that a stray write is not a power-off', () => {
    expect(Command.PowerOff).toBe(0x50570001);
    expect(Command.Reboot).toBe(0x50570002);
  });

  it('parses and formats UUIDs', () => {
    expect(formatUuid(parseUuid(UUID))).toBe(UUID);
    expect(() => parseUuid('123e4567e89b12d3a456426614174000')).toThrow();
    expect(() => parseUuid(new Uint8Array(15))).toThrow();
  });
});
