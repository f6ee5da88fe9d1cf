/**
 * Just enough of the WebAssembly binary format for the JIT (jit.ts): a byte buffer with LEB128, the
 * opcodes it uses, and a module of one function that imports the guest's memory. Written by hand
 * because the JIT emits a few hundred bytes per region at run time: a general assembler library would
 * cost more to load than the code it replaces (and the well-kept ones — binaryen, wabt — are several MB
 * of wasm themselves).
 */

/** The opcodes the JIT emits (WebAssembly 1.0 core). */
export const enum W {
  Unreachable = 0x00,
  Block = 0x02,
  Loop = 0x03,
  If = 0x04,
  Else = 0x05,
  End = 0x0b,
  Br = 0x0c,
  BrIf = 0x0d,
  BrTable = 0x0e,
  Return = 0x0f,
  Call = 0x10,
  CallIndirect = 0x11,
  LocalGet = 0x20,
  LocalSet = 0x21,
  LocalTee = 0x22,
  I32Load = 0x28,
  I64Load = 0x29,
  I32Load16U = 0x2f,
  F64Load = 0x2b,
  I64Load8S = 0x30,
  I64Load8U = 0x31,
  I64Load16S = 0x32,
  I64Load16U = 0x33,
  I64Load32S = 0x34,
  I64Load32U = 0x35,
  I32Store = 0x36,
  I64Store = 0x37,
  I32Store16 = 0x3b,
  I64Store8 = 0x3c,
  I64Store16 = 0x3d,
  I64Store32 = 0x3e,
  I32Const = 0x41,
  I64Const = 0x42,
  I32Eqz = 0x45,
  I32Eq = 0x46,
  I32Ne = 0x47,
  I32LtS = 0x48,
  I32LtU = 0x49,
  I32GtS = 0x4a,
  I32GeS = 0x4e,
  I32GeU = 0x4f,
  I64Eqz = 0x50,
  I64Eq = 0x51,
  I64Ne = 0x52,
  I64LtS = 0x53,
  I64LtU = 0x54,
  I64GtU = 0x56,
  I64GeS = 0x59,
  I64GeU = 0x5a,
  F64Eq = 0x61,
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32DivS = 0x6d,
  I32DivU = 0x6e,
  I32RemS = 0x6f,
  I32RemU = 0x70,
  I32And = 0x71,
  I32Or = 0x72,
  I32Xor = 0x73,
  I32Shl = 0x74,
  I32ShrS = 0x75,
  I32ShrU = 0x76,
  I64Add = 0x7c,
  I64Sub = 0x7d,
  I64Mul = 0x7e,
  I64DivS = 0x7f,
  I64DivU = 0x80,
  I64RemS = 0x81,
  I64RemU = 0x82,
  I64And = 0x83,
  I64Or = 0x84,
  I64Xor = 0x85,
  I64Shl = 0x86,
  I64ShrS = 0x87,
  I64ShrU = 0x88,
  I32WrapI64 = 0xa7,
  I64ExtendI32S = 0xac,
  I64ExtendI32U = 0xad,
  I64TruncF64S = 0xb0,
  F64ConvertI64S = 0xb9,
  Drop = 0x1a,
  Select = 0x1b,
}

/**
 * Atomic memory operations (the threads proposal, prefix 0xfe): atomic on a shared memory, ordinary on
 * an unshared one. The read-modify-writes come in groups of seven (i32, i64, then the narrow forms):
 * the i64 form of each is its i32 opcode + 1. Their alignment must be exactly the access size.
 */
export const enum A {
  I32Load = 0x10,
  I64Load = 0x11,
  I32Store = 0x17,
  I64Store = 0x18,
  Add = 0x1e,
  And = 0x2c,
  Or = 0x33,
  Xor = 0x3a,
  Xchg = 0x41,
  Cmpxchg = 0x48,
}

/** Block result types. */
export const enum T {
  Void = 0x40,
  I64 = 0x7e,
  I32 = 0x7f,
}

/**
 * A growable byte buffer with the encodings wasm uses. The JIT emits every region through it, so its
 * paths are the compiler's hot paths: block copies, and LEB128 of int32 values without BigInt (the
 * profile of a boot put ~40% of the compile time in per-byte copies and BigInt LEBs).
 */
export class Bytes {
  private buf: Uint8Array<ArrayBuffer>;
  length = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private grow(need: number): void {
    let n = this.buf.length * 2;
    while (n < need) n *= 2;
    const b = new Uint8Array(n);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }

  byte(b: number): this {
    if (this.length === this.buf.length) this.grow(this.length + 1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(b: ArrayLike<number>): this {
    const n = b.length;
    if (this.length + n > this.buf.length) this.grow(this.length + n);
    this.buf.set(b, this.length);
    this.length += n;
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  u(v: number): this {
    if (v < 0x80) return this.byte(v);
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of an integer (a number within ±2^53, or a bigint for the rest of i64). */
  s(v: number | bigint): this {
    if (typeof v === 'number' && (v | 0) === v) {
      for (;;) {
        const b = v & 0x7f;
        v >>= 7;
        if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
        this.byte(b | 0x80);
      }
    }
    if (typeof v === 'number') {
      // Beyond int32: the same steps in float arithmetic (exact below 2^53; floor is the arithmetic shift).
      for (;;) {
        const b = ((v % 128) + 128) % 128;
        v = Math.floor(v / 128);
        if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
        this.byte(b | 0x80);
      }
    }
    let x = v;
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      const done = (x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  op(o: W): this {
    return this.byte(o);
  }

  /** A memory access: alignment (log2 bytes) and constant offset. */
  mem(o: W, alignLog2: number, offset: number): this {
    return this.byte(o).u(alignLog2).u(offset);
  }

  /** atomic.fence: a full barrier of this thread's memory accesses (sequentially consistent). */
  atomicFence(): this {
    return this.byte(0xfe).u(3).byte(0);
  }

  /** An atomic access (see {@link A}) at its natural alignment (log2 bytes). */
  atomic(o: number, alignLog2: number, offset: number): this {
    return this.byte(0xfe).u(o).u(alignLog2).u(offset);
  }

  i32(v: number): this {
    return this.byte(W.I32Const).s(v | 0);
  }

  i64(v: number | bigint): this {
    return this.byte(W.I64Const).s(v);
  }

  get(local: number): this {
    return this.byte(W.LocalGet).u(local);
  }

  set(local: number): this {
    return this.byte(W.LocalSet).u(local);
  }

  tee(local: number): this {
    return this.byte(W.LocalTee).u(local);
  }

  /** A section: id, then its contents with their length in front. */
  section(id: number, body: Bytes): this {
    return this.byte(id).u(body.length).bytes(body.view());
  }

  view(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.length);
  }
}

/** One function: its i32 parameter count, locals ([count, type] groups) and body (without the final `end`). */
export interface FnSpec {
  params: number;
  locals: [number, T][];
  code: Bytes;
}

/** The memory a module imports: its size in 64 KiB pages, and whether it is shared (threads). */
export interface MemorySpec {
  readonly pages: number;
  readonly shared: boolean;
}

/**
 * How a module reaches the host (jit-host.ts): the JavaScript function "m"."h" itself, or (`table`) the
 * funcref table "m"."h" whose entry 0 is a wasm function that calls it (the dispatcher's `f1`).
 */
export interface HostSpec {
  readonly params: number;
  readonly table?: boolean;
}

/** The host's type index in a module with a {@link HostSpec} and no `table` (for call_indirect). */
export const HOST_TYPE = 1;

/**
 * A module of functions (i32 parameters, an i32 result) exported as f0, f1, …, importing the memory
 * "m"."m" of `mem.pages` 64 KiB pages (a shared one declares its maximum, the same) and, with `table`, the
 * function table "m"."t" whose entries take `table.params` i32 parameters (type 1, for call_indirect);
 * with `host`, "m"."h" taking `host.params` i32 parameters and returning an i32: as function 0 (the
 * module's own functions follow it; the exports are unchanged), or as table 0 ({@link HostSpec}; type 1
 * when there is no `table`). Types: the first function's, then `table`'s, `host`'s, then any other.
 * The JIT puts a batch of regions in one module: that saves a Module and an Instance
 * (each a fixed cost of a fraction of a millisecond in V8) per region. Regions reach the dispatcher's
 * table through Table.set and do not import it: V8 updates every importing instance on each Table.set.
 * Nor do they import a JavaScript function: V8 compiles a wasm-to-JS wrapper for each module that does
 * (a third of `new WebAssembly.Module`'s time for the desktop's regions), so they call the host through
 * a table that is written once.
 */
export function moduleBytes(
  fns: readonly FnSpec[],
  mem: MemorySpec,
  table?: { params: number },
  host?: HostSpec,
): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const fn of fns) size += fn.code.length + 16;
  const out = new Bytes(size + 32 * fns.length + 128).bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const sigs = table ? [fns[0].params, table.params] : [fns[0].params];
  const hostType = sigs.length; // HOST_TYPE without `table`
  if (host) sigs.push(host.params);
  for (const fn of fns) if (!sigs.includes(fn.params)) sigs.push(fn.params);
  const type = new Bytes().u(sigs.length);
  for (const n of sigs) {
    type.byte(0x60).u(n);
    for (let i = 0; i < n; i++) type.byte(T.I32);
    type.u(1).byte(T.I32);
  }
  out.section(1, type);
  const imp = new Bytes().u(1 + (table ? 1 : 0) + (host ? 1 : 0));
  imp.u(1).byte(0x6d).u(1).byte(0x6d).byte(0x02);
  if (mem.shared) imp.byte(0x03).u(mem.pages).u(mem.pages);
  else imp.byte(0x00).u(mem.pages);
  if (table) imp.u(1).byte(0x6d).u(1).byte(0x74).byte(0x01).byte(0x70).byte(0x00).u(1);
  if (host?.table) imp.u(1).byte(0x6d).u(1).byte(0x68).byte(0x01).byte(0x70).byte(0x00).u(1);
  else if (host) imp.u(1).byte(0x6d).u(1).byte(0x68).byte(0x00).u(hostType);
  out.section(2, imp);
  const first = host && !host.table ? 1 : 0;
  const funcs = new Bytes().u(fns.length);
  for (const fn of fns) funcs.u(sigs.indexOf(fn.params));
  out.section(3, funcs);
  const exps = new Bytes(8 * fns.length + 8).u(fns.length);
  for (let k = 0; k < fns.length; k++) {
    const name = `f${k}`;
    exps.u(name.length);
    for (let j = 0; j < name.length; j++) exps.byte(name.charCodeAt(j));
    exps.byte(0x00).u(first + k);
  }
  out.section(7, exps);
  const code = new Bytes(size + 8).u(fns.length);
  for (const fn of fns) {
    const body = new Bytes(fn.code.length + 16).u(fn.locals.length);
    for (const [n, t] of fn.locals) body.u(n).byte(t);
    body.bytes(fn.code.view()).byte(W.End);
    code.u(body.length).bytes(body.view());
  }
  out.section(10, code);
  return out.view().slice();
}
