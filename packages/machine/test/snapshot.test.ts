/**
 * A machine's snapshot round trip at the RAM level: non-zero pages spread over more than one section
 * come back where they were (and only they), on a fresh machine, from the file or from it opened
 * beforehand (inflating while the machine is built); a snapshot whose page bitmap does not match its
 * stored pages is refused before the machine changes; the CPU part's code profile goes with the
 * snapshot and comes back to it after the harts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import {
  RAM_SECTION_BYTES,
  createRiscvParts,
  openSnapshot,
  parseManifest,
  readSnapshotFile,
  writeSnapshotFile,
  payloadSections,
} from '../src/index.js';
import { nodeModuleLoader, nodeSnapshotCodec } from '../src/node.js';
import { RiscvMachine } from '../src/riscv/machine.js';
import type { RiscvParts } from '../src/riscv/parts.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

function image(): Uint8Array {
  const img = new Uint8Array(8192);
  const dv = new DataView(img.buffer);
  dv.setUint32(8, 0x200000, true);
  dv.setUint32(16, 0x10000, true);
  img.set(new TextEncoder().encode('RISCV\0\0\0'), 48);
  dv.setUint32(56, 0x05435352, true);
  return img;
}

const create = (parts?: RiscvParts): Promise<RiscvMachine> =>
  RiscvMachine.create({
    manifest: parseManifest({ name: 'snap', memory: '64M', cpus: 2 }),
    images: { kernel: image() },
    loadModule: nodeModuleLoader(fixtures, []),
    ...(parts ? { parts } : {}),
  });

/** Every third page, and a run of pages across section boundaries, hold their numbers; the rest zero. */
function fillPages(m: RiscvMachine): void {
  const pages = m.ram.size / 4096;
  for (let p = 0; p < pages; p++) {
    if (p % 3 !== 0 && (p < 4000 || p >= 6500)) continue;
    const v = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset + p * 4096, 4096);
    for (let i = 0; i < 4096; i += 8) v.setUint32(i, p * 7919 + i, true);
  }
}

describe('machine snapshots', () => {
  it('puts every non-zero page back in place from several RAM sections, and nothing else', async () => {
    const a = await create();
    const pages = a.ram.size / 4096;
    fillPages(a);
    const codec = nodeSnapshotCodec();
    const file = await a.snapshot({ codec });
    const { header } = readSnapshotFile(file, codec);
    const inRun = 6500 - 4000 - Math.ceil((6500 - 4000) / 3) + 1;
    expect(header.ramInUse).toBe((Math.ceil(pages / 3) + inRun) * 4096);
    expect(header.sections.length).toBe(1 + Math.ceil(header.ramInUse / RAM_SECTION_BYTES));
    expect(header.sections.length).toBeGreaterThan(3);
    expect(header.ramStoredBytes).toBeLessThan(header.ramInUse);

    const b = await create();
    b.ram.bytes[4096] = 0xff; // restore does not assume zero RAM where the snapshot has none
    await b.restore(file, { codec });
    // A machine not yet booted is taken to be zero; the stray byte shows the restore wrote page 0
    // and left page 1 alone: fill it back before comparing.
    expect(b.ram.bytes[4096]).toBe(0xff);
    b.ram.bytes[4096] = 0;
    expect(Buffer.compare(b.ram.bytes, a.ram.bytes)).toBe(0);
  });

  it('refuses a file whose RAM sections inflate to more than the machine has, before inflating them', async () => {
    const a = await create();
    const codec = nodeSnapshotCodec();
    const good = readSnapshotFile(await a.snapshot({ codec }), codec);
    const [state] = payloadSections(good.header, good.payload);
    const zeros = await codec.compress(new Uint8Array(RAM_SECTION_BYTES));
    const n = a.ram.size / RAM_SECTION_BYTES + 1;
    const payload = new Uint8Array(state.length + n * zeros.length);
    payload.set(state);
    for (let i = 0; i < n; i++) payload.set(zeros, state.length + i * zeros.length);
    const header = {
      ...good.header,
      ramSize: 2 * a.ram.size, // lets the file list that many sections
      rawBytes: good.header.sections[0].raw + n * RAM_SECTION_BYTES,
      payloadBytes: payload.length,
      sections: [
        good.header.sections[0],
        ...Array.from({ length: n }, () => ({ raw: RAM_SECTION_BYTES, stored: zeros.length })),
      ],
      ramStoredBytes: n * zeros.length,
    };
    const b = await create();
    const err = await b
      .restore(writeSnapshotFile(header, payload, codec), { codec })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/more RAM pages than this machine has/);
  });

  it('refuses a page bitmap that does not match the stored pages, before changing anything', async () => {
    const a = await create();
    a.ram.bytes.fill(1, 0, 3 * 4096);
    const codec = nodeSnapshotCodec();
    const good = readSnapshotFile(await a.snapshot({ codec }), codec);
    // The same state with one RAM section dropped: consistent on its own, three pages short for its bitmap.
    const [state] = payloadSections(good.header, good.payload);
    const short = await codec.compress(new Uint8Array(4096));
    const payload = new Uint8Array([...state, ...short]);
    const header = {
      ...good.header,
      rawBytes: good.header.sections[0].raw + 4096,
      payloadBytes: payload.length,
      sections: [good.header.sections[0], { raw: 4096, stored: short.length }],
      ramStoredBytes: short.length,
    };
    const b = await create();
    b.ram.bytes[0] = 9;
    const err = await b
      .restore(writeSnapshotFile(header, payload, codec), { codec })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(/ram: saved field "present" does not match the pages stored/);
    expect(b.ram.bytes[0]).toBe(9);
  });

  it('restores from a file opened beforehand, bounded by the RAM it was opened for', async () => {
    const a = await create();
    fillPages(a);
    const codec = nodeSnapshotCodec();
    const file = await a.snapshot({ codec });
    const b = await create();
    await b.restore(openSnapshot(file, { codec, maxRamBytes: b.ram.size }), { codec });
    expect(Buffer.compare(b.ram.bytes, a.ram.bytes)).toBe(0);
    // Opened for less RAM than it holds: refused before anything inflates.
    expect(() => openSnapshot(file, { codec, maxRamBytes: 4096 })).toThrow(
      /more RAM pages than this machine/,
    );
    // Opened for a larger machine than the one restoring it: refused, the machine unchanged.
    const c = await create();
    const err = await c
      .restore(openSnapshot(file, { codec, maxRamBytes: 2 * c.ram.size }), { codec })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/more RAM than this one/);
    expect(c.ram.bytes.every((v) => v === 0)).toBe(true);
  });

  it("inflates to plain Uint8Arrays (parts copy their state with slice(), which a Buffer's does not)", async () => {
    const codec = nodeSnapshotCodec();
    const out = await codec.decompress(await codec.compress(new Uint8Array(64).fill(3)), 64);
    expect(Buffer.isBuffer(out)).toBe(false);
    expect(out.slice(8).buffer.byteLength).toBe(56);
  });

  it("carries the CPU part's code profile, given back after the harts; without one nothing is asked", async () => {
    const given: { profile: unknown; pc: number }[] = [];
    const profiled = (tag: string): RiscvParts => ({
      ...createRiscvParts(),
      saveCode: (harts) => ({ version: 1, data: { tag, harts: harts.length } }),
      restoreCode: (harts, s) => given.push({ profile: s, pc: harts[1].pc }),
    });
    const a = await create(profiled('a'));
    a.harts[1].pc = 0x80001234;
    const codec = nodeSnapshotCodec();
    const file = await a.snapshot({ codec, code: true });
    await (await create(profiled('b'))).restore(file, { codec });
    expect(given).toEqual([{ profile: { version: 1, data: { tag: 'a', harts: 2 } }, pc: 0x80001234 }]);
    // A CPU part without profiles restores it all the same (the profile is only a hint).
    const unprofiled = (): RiscvParts => ({
      ...createRiscvParts(),
      saveCode: undefined,
      restoreCode: undefined,
    });
    await (await create(unprofiled())).restore(file, { codec });
    // A snapshot without a profile asks for none.
    await (
      await create(profiled('c'))
    ).restore(await (await create(unprofiled())).snapshot({ codec }), { codec });
    expect(given.length).toBe(1);
  });
});
