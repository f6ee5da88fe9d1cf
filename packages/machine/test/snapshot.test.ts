/**
 * A machine's snapshot round trip at the RAM level: non-zero pages spread over more than one section
 * come back where they were (and only they), on a fresh machine; a snapshot whose page bitmap does not
 * match its stored pages is refused before the machine changes.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import {
  RAM_SECTION_BYTES,
  parseManifest,
  readSnapshotFile,
  writeSnapshotFile,
  payloadSections,
} from '../src/index.js';
import { nodeModuleLoader, nodeSnapshotCodec } from '../src/node.js';
import { RiscvMachine } from '../src/riscv/machine.js';

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

const create = (): Promise<RiscvMachine> =>
  RiscvMachine.create({
    manifest: parseManifest({ name: 'snap', memory: '64M', cpus: 2 }),
    images: { kernel: image() },
    loadModule: nodeModuleLoader(fixtures, []),
  });

describe('machine snapshots', () => {
  it('puts every non-zero page back in place from several RAM sections, and nothing else', async () => {
    const a = await create();
    const pages = a.ram.size / 4096;
    // Every third page holds its number (not compressible to nothing); the rest stay zero.
    for (let p = 0; p < pages; p += 3) {
      const v = new DataView(a.ram.bytes.buffer, a.ram.bytes.byteOffset + p * 4096, 4096);
      for (let i = 0; i < 4096; i += 8) v.setUint32(i, p * 7919 + i, true);
    }
    const codec = nodeSnapshotCodec();
    const file = await a.snapshot({ codec });
    const { header } = readSnapshotFile(file, codec);
    expect(header.ramInUse).toBe(Math.ceil(pages / 3) * 4096);
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
});
