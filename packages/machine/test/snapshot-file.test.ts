import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import { nodeSnapshotCodec } from '../src/node.js';
import {
  SNAPSHOT_FORMAT,
  manifestSha256,
  parseManifest,
  payloadSections,
  readSnapshotFile,
  writeSnapshotFile,
  type SnapshotHeader,
} from '../src/index.js';

const manifest = parseManifest({ name: 'a', memory: '64M' }, 't');

/** A file of two sections: a state of 5000 bytes and one RAM section of two pages. */
async function file(edit: (h: SnapshotHeader) => void = () => {}): Promise<Uint8Array> {
  const codec = nodeSnapshotCodec();
  const parts = [new Uint8Array(5000).fill(3), new Uint8Array(8192).fill(7)];
  const stored = await Promise.all(parts.map((p) => codec.compress(p)));
  const payload = new Uint8Array([...stored[0], ...stored[1]]);
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    created: 'now',
    manifestSha256: await manifestSha256(manifest),
    manifest,
    ramInUse: 8192,
    ramSize: 64 << 20,
    compression: 'deflate-raw',
    rawBytes: 5000 + 8192,
    payloadBytes: payload.length,
    sections: parts.map((p, i) => ({ raw: p.length, stored: stored[i].length })),
    ramStoredBytes: stored[1].length,
  };
  edit(header);
  return writeSnapshotFile(header, payload, codec);
}

describe('the snapshot file', () => {
  it('reads back what was written; zlib and the built-in CRC agree', async () => {
    const f = await file();
    const { header, payload } = readSnapshotFile(f, nodeSnapshotCodec());
    expect(readSnapshotFile(f).header).toEqual(header);
    const [state, ram] = payloadSections(header, payload);
    expect((await nodeSnapshotCodec().decompress(state, header.sections[0].raw)).length).toBe(5000);
    expect(await nodeSnapshotCodec().decompress(ram, header.sections[1].raw)).toEqual(
      new Uint8Array(8192).fill(7),
    );
  });

  it('refuses sections that do not add up or exceed their bound (what an inflate may allocate)', async () => {
    const refused = async (edit: (h: SnapshotHeader) => void): Promise<void> => {
      const f = await file(edit);
      expect(() => readSnapshotFile(f)).toThrow(/^corrupted: the header lacks fields of format \d+$/);
    };
    await refused((h) => (h.sections[1].raw += 1));
    await refused((h) => (h.sections[0].stored += 1));
    await refused((h) => (h.ramStoredBytes = 0));
    await refused((h) => {
      h.sections[1].raw = 64 << 20;
      h.rawBytes = 5000 + (64 << 20);
    });
    await refused((h) => (h.sections = []));
  });

  it('gives one line for each kind of bad file', async () => {
    const f = await file();
    const err = (b: Uint8Array): string => {
      try {
        readSnapshotFile(b);
      } catch (e) {
        expect(e).toBeInstanceOf(SnapshotError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(f.subarray(0, f.length - 10))).toMatch(/^truncated: \d+ of \d+ bytes$/);
    expect(err(f.subarray(0, 12))).toMatch(/^truncated/);
    const flip = f.slice();
    flip[f.length - 8] ^= 1;
    expect(err(flip)).toMatch(/^corrupted: checksum mismatch/);
    const v = f.slice();
    new DataView(v.buffer).setUint32(8, 7, true);
    expect(err(v)).toBe(
      `snapshot format version 7; this version of virtio-desktop reads version ${SNAPSHOT_FORMAT}`,
    );
    expect(err(new TextEncoder().encode('PK\u0003\u0004 a zip'))).toMatch(/^not a virtio-desktop snapshot/);
    const longer = new Uint8Array(f.length + 3);
    longer.set(f);
    expect(err(longer)).toMatch(/^corrupted: 3 bytes after its end$/);
  });

  it("a manifest's hash ignores its name and nothing else", async () => {
    const h = await manifestSha256(manifest);
    expect(await manifestSha256(parseManifest({ name: 'b', memory: '64M' }, 't'))).toBe(h);
    expect(await manifestSha256(parseManifest({ name: 'a', memory: '128M' }, 't'))).not.toBe(h);
  });
});
