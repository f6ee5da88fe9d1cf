import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import { nodeSnapshotCodec } from '../src/node.js';
import {
  manifestSha256,
  parseManifest,
  readSnapshotFile,
  writeSnapshotFile,
  type SnapshotHeader,
} from '../src/index.js';

const manifest = parseManifest({ name: 'a', memory: '64M' }, 't');

async function file(): Promise<Uint8Array> {
  const codec = nodeSnapshotCodec();
  const raw = new Uint8Array(5000).fill(3);
  const payload = await codec.compress(raw);
  const header: SnapshotHeader = {
    format: 1,
    created: 'now',
    manifestSha256: await manifestSha256(manifest),
    manifest,
    ramInUse: 0,
    ramSize: 64 << 20,
    compression: 'deflate-raw',
    rawBytes: raw.length,
    payloadBytes: payload.length,
  };
  return writeSnapshotFile(header, payload, codec);
}

describe('the snapshot file', () => {
  it('reads back what was written; zlib and the built-in CRC agree', async () => {
    const f = await file();
    const { header, payload } = readSnapshotFile(f, nodeSnapshotCodec());
    expect(readSnapshotFile(f).header).toEqual(header);
    const raw = await nodeSnapshotCodec().decompress(payload, header.rawBytes);
    expect(raw.length).toBe(5000);
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
    expect(err(v)).toBe('snapshot format version 7; this version of virtio-desktop reads version 1');
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
