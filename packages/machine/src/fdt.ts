/**
 * A flattened-device-tree (DTB, version 17) writer. Written by hand because no maintained npm package
 * builds DTBs; the format is small (devicetree specification, chapter 5) and the tests check our output
 * with dtc.
 */
import type { DtNode, DtValue } from '@virtio-desktop/virtio-core';

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;

class ByteWriter {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.length, v >>> 0);
    this.length += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  align4(): void {
    while (this.length % 4) this.bytes(new Uint8Array(1));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

/** Encode a property value the way dtc would from the corresponding source syntax. */
export function encodeValue(v: DtValue): Uint8Array {
  if (v === true) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'number') v = [v];
  if (typeof v === 'string') v = [v];
  if (v.length === 0) return new Uint8Array(0);
  if (typeof v[0] === 'number') {
    const cells = v as readonly number[];
    const out = new Uint8Array(4 * cells.length);
    const dv = new DataView(out.buffer);
    cells.forEach((c, i) => dv.setUint32(4 * i, c >>> 0));
    return out;
  }
  return utf8.encode((v as readonly string[]).map((s) => s + '\0').join(''));
}

/** Serialise a tree whose root is `root` (its name is ignored) into a DTB. */
export function buildFdt(root: DtNode, opts: { bootCpuId?: number } = {}): Uint8Array {
  const struct = new ByteWriter();
  const strings = new ByteWriter();
  const stringOffsets = new Map<string, number>();
  const nameOff = (name: string): number => {
    let off = stringOffsets.get(name);
    if (off === undefined) {
      off = strings.length;
      strings.bytes(utf8.encode(name + '\0'));
      stringOffsets.set(name, off);
    }
    return off;
  };
  const emit = (node: DtNode, isRoot: boolean): void => {
    struct.u32(FDT_BEGIN_NODE);
    const name = isRoot
      ? ''
      : node.unitAddress === undefined
        ? node.name
        : `${node.name}@${node.unitAddress.toString(16)}`;
    struct.bytes(utf8.encode(name + '\0'));
    struct.align4();
    const props: [string, DtValue][] = Object.entries(node.props);
    if (node.phandle !== undefined) props.push(['phandle', node.phandle]);
    for (const [k, v] of props) {
      const data = encodeValue(v);
      struct.u32(FDT_PROP);
      struct.u32(data.length);
      struct.u32(nameOff(k));
      struct.bytes(data);
      struct.align4();
    }
    for (const c of node.children ?? []) emit(c, false);
    struct.u32(FDT_END_NODE);
  };
  emit(root, true);
  struct.u32(FDT_END);

  const headerSize = 40;
  const rsvOff = headerSize;
  const rsvSize = 16; // only the terminating empty entry
  const structOff = rsvOff + rsvSize;
  const structBytes = struct.result();
  const stringsOff = structOff + structBytes.length;
  const stringBytes = strings.result();
  const total = stringsOff + stringBytes.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const hdr = [
    FDT_MAGIC,
    total,
    structOff,
    stringsOff,
    rsvOff,
    17,
    16,
    opts.bootCpuId ?? 0,
    stringBytes.length,
    structBytes.length,
  ];
  hdr.forEach((v, i) => dv.setUint32(4 * i, v));
  out.set(structBytes, structOff);
  out.set(stringBytes, stringsOff);
  return out;
}
