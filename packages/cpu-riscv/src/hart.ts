/**
 * An RV64GC hart (RV64IMAFDC + Zicsr + Zifencei + Zicntr + Sstc; privileged architecture 1.12 with M, S and
 * U modes, Sv39 and Sv48). This file holds the state, the run loop, memory access through the TLB and
 * page tables, traps and interrupts; `execute.ts` holds the instruction semantics, `csr.ts` the CSRs,
 * `fp.ts` the F and D extensions and `rvc.ts` the compressed encodings.
 *
 * Written for V8: integer registers are (lo, hi) pairs of int32 in one Int32Array, addresses are plain
 * numbers, nothing is allocated per instruction and BigInt never appears on the hot path.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { DecodeCache } from './decode-cache.js';
import { execute } from './execute.js';
import { run as runFast } from './interp.js';
import { JIT_HOT } from './jit.js';
import { HS_F, HS_IO, HS_TLB_PA, HS_TLB_RAM, HS_TLB_TAG, HS_TLB_W64, HS_X, jitMemoryOf } from './memory.js';
import { RVC_TABLE } from './rvc.js';
import * as C from './constants.js';

export interface HartOptions {
  hartId: number;
  /** Guest RAM, shared with the devices. */
  ram: { base: number; size: number; buffer: ArrayBufferLike };
  /** Every physical access outside RAM; -1 / false means nothing is there (access fault). */
  bus: PhysicalBus;
  /** Platform time in ticks, for the time CSR and Sstc. */
  time: () => number;
  /** ECALL from S-mode stops run() with StopReason.Sbi instead of trapping to M-mode. */
  hostSbi?: boolean;
  /**
   * How instructions run (all three give the same architectural results, instruction for instruction):
   * - 'jit' (the default): the decoded-instruction cache's run loop (interp.ts), which compiles the
   *   hot code of each page into JavaScript (jit.ts);
   * - 'interp': the same run loop without compiling;
   * - 'reference': every instruction through execute.ts ({@link Hart.runReference}), the definition
   *   the other two are tested against.
   */
  engine?: CpuEngine;
  /**
   * Arrivals at a position (by a jump or from another page) before the JIT compiles its page with it
   * (2..65535; default JIT_HOT). Tests use 2 so that nearly everything they run is compiled.
   */
  jitThreshold?: number;
  /**
   * With the JIT: run decoded instructions that have no compiled region yet in wasm (jit-interp.ts;
   * true, the default) rather than in the JavaScript run loop (false, for comparisons and tests).
   */
  jitInterp?: boolean;
  /**
   * Compile hot code at once on the hart's thread (true, the default), or in the background (false:
   * WebAssembly.instantiate, the regions installed on a later turn of the event loop; until then the
   * code runs interpreted). At once is cheaper: V8 compiles a module's functions lazily, on their first
   * call, on the calling thread either way, so the background path saves no work on the hart's thread
   * and adds a promise per batch (boot to init: 4–6% less main-thread CPU at once). A host that refuses
   * synchronous compiling of large modules (a browser's main thread) gets the background path
   * automatically.
   */
  jitSync?: boolean;
  /**
   * Run warmup.ts's program once per thread before this hart's first instruction (default true with
   * the 'jit' engine), so that V8 optimizes the run loop once rather than after each path first taken.
   */
  warmUp?: boolean;
}

export type CpuEngine = 'reference' | 'interp' | 'jit';
export const CPU_ENGINES: readonly CpuEngine[] = ['reference', 'interp', 'jit'];

import { Access, StopReason, TLB_SIZE } from './constants.js';
import { warmUp } from './warmup.js';

export { Access, StopReason, TLB_SIZE };
const TWO32 = 0x1_0000_0000;
/** Pages in a leaf at each page-table level (4 KiB, 2 MiB, 1 GiB, 512 GiB). */
const SPAN = [1, 512, 512 * 512, 512 * 512 * 512];
const SUPER_MAX = 512;

export class Hart {
  readonly hartId: number;
  /** x0..x31 as (lo, hi) pairs: x[2i] low word, x[2i+1] high word (in the JIT memory when there is one). */
  readonly x: Int32Array;
  /** f0..f31 as raw 64-bit patterns (fi[2i] low, fi[2i+1] high); single values are NaN-boxed. */
  readonly f: Float64Array;
  readonly fi: Int32Array;
  pcLo = 0;
  pcHi = 0;
  /** The pc of the next instruction, set by execute(); jumps overwrite it. */
  nextLo = 0;
  nextHi = 0;
  /** Current privilege: 0 U, 1 S, 3 M. */
  priv = 3;
  /** Length in bytes of the instruction being executed. */
  ilen = 4;
  /** The 16-bit original of a compressed instruction (for illegal-instruction tval), else 0. */
  raw16 = 0;
  trapped = false;
  stop = 0;
  /** Set when interrupt-relevant state changed: checked before the next instruction. */
  irqCheck = true;
  instretCount = 0;
  /** What mcycle and minstret writes added to the count: (lo, hi) for mcycle, then for minstret. */
  readonly counterOff: Int32Array = new Int32Array(4);

  // --- CSR state (see csr.ts) ---
  mstatus = 0; // low 32 bits; UXL/SXL (= 2) and SD are synthesised on read
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-writable mip bits (SSIP, STIP, SEIP as written by M-mode). */
  mipSw = 0;
  /** Platform-driven mip bits (MSIP, MTIP, MEIP, SEIP, and STIP from a host SBI). */
  mipHw = 0;
  readonly csr64: Int32Array = new Int32Array(2 * 4096);
  fflags = 0;
  frm = 0;
  mcounteren = 0;
  scounteren = 0;
  menvcfgHi = 0; // STCE is bit 63
  satpMode = 0;
  satpPpn = 0;
  stimecmp = Infinity;

  // --- memory ---
  readonly ramBase: number;
  readonly ramSize: number;
  readonly mem8: Uint8Array;
  readonly mem16: Uint16Array;
  readonly mem32: Int32Array;
  readonly dv: DataView;
  readonly bus: PhysicalBus;
  readonly time: () => number;
  readonly hostSbi: boolean;
  readonly engine: CpuEngine;
  /** Whether run() compiles hot code (engine 'jit'). */
  readonly jit: boolean;
  /** See {@link HartOptions.jitThreshold}. */
  readonly jitHot: number;
  /** See {@link HartOptions.jitInterp} (read at each run; the warm-up switches it). */
  jitInterp: boolean;
  /** See {@link HartOptions.jitSync}. */
  readonly jitSync: boolean;
  /**
   * The TLB, one set of TLB_SIZE entries per access type (read, write, exec) and context (U, S, S with
   * SUM), at index (acc * 3 + ctx) * TLB_SIZE + (vpn % TLB_SIZE): the tag is the whole virtual page number
   * (hi * 2^20 + lo >>> 12, exact in a double; NaN when empty) and tlbPa the physical page. Write entries
   * exist only once the PTE is dirty, so a hit needs no page-table update. interp.ts reads them inline.
   */
  readonly tlbTag: Float64Array;
  readonly tlbPa: Float64Array;
  /**
   * The entries of RAM pages again, as compiled code and the interpreter's inline path read them
   * (memory.ts HS_TLB_W64, HS_TLB_RAM); kept by translate and flushTlb.
   */
  readonly tlbW64: Int32Array;
  readonly tlbRam: Int32Array;
  /**
   * The JIT's view of this hart: the byte offset of its state area in the JIT memory (memory.ts; -1
   * without one) and the cells compiled code hands back: [0] instructions, [2], [3] the pc (lo, hi),
   * then the reservation: [4] its RAM offset (-1: none), [6], [7] the value LR loaded (lo, hi).
   */
  readonly jitArea: number;
  readonly jitIo: Int32Array;
  /**
   * The run loop's instret base while compiled code runs (instret = jitIc0 + the count in the code), so
   * that a CSR instruction the code calls out for (jit-host.ts) reads the exact count.
   */
  jitIc0 = 0;
  /** Decoded instructions of the RAM pages executed so far, shared by the harts on this RAM. */
  readonly dcache: DecodeCache;
  /**
   * Physical address of an LR reservation, or -1 (kept in jitIo, where compiled LR/SC read and write it;
   * a reservation outside RAM is none, since SC outside RAM faults anyway).
   */
  get reservation(): number {
    const o = this.jitIo[4];
    return o < 0 ? -1 : o + this.ramBase;
  }
  set reservation(pa: number) {
    const o = pa - this.ramBase;
    this.jitIo[4] = pa >= 0 && o >= 0 && o < this.ramSize ? o : -1;
  }
  /**
   * RAM is shared with harts on other threads (a SharedArrayBuffer): AMOs use Atomics and SC is a
   * compare-exchange against the value LR loaded (resvLo, resvHi), see src/threads/README in the README.
   */
  readonly shared: boolean;
  get resvLo(): number {
    return this.jitIo[6];
  }
  set resvLo(v: number) {
    this.jitIo[6] = v;
  }
  get resvHi(): number {
    return this.jitIo[7];
  }
  set resvHi(v: number) {
    this.jitIo[7] = v;
  }
  /** An atomic read-modify-write of it is the host's full memory barrier (FENCE on shared RAM). */
  private readonly fenceCell: Int32Array;

  /** A full barrier between this thread's earlier and later memory accesses (FENCE, shared RAM). */
  fence(): void {
    Atomics.add(this.fenceCell, 0, 1);
  }

  /** 64-bit view of RAM for the 64-bit AMOs and SC.D on shared RAM (null otherwise). */
  readonly mem64: BigInt64Array | null;
  /** Scratch for 64-bit loads: lo, hi. */
  readonly tmp: Int32Array = new Int32Array(2);
  /** The virtual page of the last fetch and its offset in RAM, so most fetches skip translation. */
  private fetchTag = -1;
  /** The last walk ended at a superpage leaf. */
  private walkSuper = false;
  /** TLB entries filled from superpages since the last full flush (see flushTlbPage). */
  private readonly superIdx = new Int32Array(SUPER_MAX);
  private superN = 0;
  private fetchHi = 0;
  private fetchOff = 0;

  constructor(o: HartOptions) {
    this.hartId = o.hartId;
    this.ramBase = o.ram.base;
    this.ramSize = o.ram.size;
    this.mem8 = new Uint8Array(o.ram.buffer, 0, o.ram.size);
    this.mem16 = new Uint16Array(o.ram.buffer, 0, o.ram.size >> 1);
    this.mem32 = new Int32Array(o.ram.buffer, 0, o.ram.size >> 2);
    this.dv = new DataView(o.ram.buffer, 0, o.ram.size);
    this.shared = typeof SharedArrayBuffer !== 'undefined' && o.ram.buffer instanceof SharedArrayBuffer;
    this.mem64 = this.shared ? new BigInt64Array(o.ram.buffer, 0, o.ram.size >> 3) : null;
    this.fenceCell = new Int32Array(this.shared ? new SharedArrayBuffer(4) : new ArrayBuffer(4));
    this.bus = o.bus;
    this.time = o.time;
    this.hostSbi = o.hostSbi ?? false;
    const jm = jitMemoryOf(o.ram.buffer);
    this.jitArea = jm && o.hartId >= 0 && o.hartId < jm.harts ? jm.hartArea(o.hartId) : -1;
    const buf = o.ram.buffer;
    const area = this.jitArea;
    this.x = area >= 0 ? new Int32Array(buf, area + HS_X, 64) : new Int32Array(64);
    this.tlbTag =
      area >= 0 ? new Float64Array(buf, area + HS_TLB_TAG, 9 * TLB_SIZE) : new Float64Array(9 * TLB_SIZE);
    this.tlbPa =
      area >= 0 ? new Float64Array(buf, area + HS_TLB_PA, 9 * TLB_SIZE) : new Float64Array(9 * TLB_SIZE);
    this.tlbW64 =
      area >= 0 ? new Int32Array(buf, area + HS_TLB_W64, 18 * TLB_SIZE) : new Int32Array(18 * TLB_SIZE);
    this.tlbRam =
      area >= 0 ? new Int32Array(buf, area + HS_TLB_RAM, 9 * TLB_SIZE) : new Int32Array(9 * TLB_SIZE);
    this.tlbW64.fill(-1);
    // Words 0-9: compiled code's results (memory.ts HS_IO..); 10: the kick (HS_KICK).
    this.jitIo = area >= 0 ? new Int32Array(buf, area + HS_IO, 11) : new Int32Array(11);
    this.jitIo[4] = -1;
    this.f = area >= 0 ? new Float64Array(buf, area + HS_F, 32) : new Float64Array(32);
    this.fi = new Int32Array(this.f.buffer, this.f.byteOffset, 64);
    this.engine = o.engine ?? 'jit';
    if (!CPU_ENGINES.includes(this.engine)) throw new Error(`unknown CPU engine '${String(this.engine)}'`);
    // The JIT compiles against the memory the RAM lives in: without one (a plain ArrayBuffer), 'jit'
    // runs the interpreter.
    this.jit = this.engine === 'jit' && area >= 0;
    this.jitHot = Math.min(65535, Math.max(2, Math.floor(o.jitThreshold ?? JIT_HOT)));
    this.jitSync = o.jitSync ?? true;
    this.jitInterp = o.jitInterp ?? true;
    this.dcache = DecodeCache.for(o.ram.buffer, o.ram.size);
    // Here rather than in the run loop: inlined there, the allocation (run once per cache) was a path
    // the warm-up's optimized loop had not seen, and the guest's first slice threw that code away.
    if (this.engine !== 'reference') this.dcache.prepare();
    if (this.shared) this.dcache.ordered = true;
    this.flushTlb();
    this.reset(o.ram.base);
    if (this.jit && o.warmUp !== false) warmUp(this.shared);
  }

  // ---------------------------------------------------------------- the interface the machine uses

  get pc(): number {
    return (this.pcHi >>> 0) * TWO32 + (this.pcLo >>> 0);
  }

  set pc(v: number) {
    this.pcLo = (v >>> 0) | 0;
    this.pcHi = Math.floor(v / TWO32) | 0;
  }

  /**
   * The JIT's working set, as RAM offsets of the positions where compiled regions are entered (shared
   * by the harts on this RAM and thread): save it with a snapshot, or beside a kernel, and give it to
   * {@link warmCode} in a later run of the same code so that its hot code compiles on its second arrival
   * instead of after `jitThreshold` arrivals. Empty without the JIT.
   */
  codeProfile(): Uint32Array {
    return this.dcache.profile();
  }

  /**
   * Take a {@link codeProfile} from an earlier run: a hint (entries outside RAM or odd are ignored; what
   * compiles still comes from the bytes in RAM), so a profile of other code costs only compile time.
   */
  warmCode(profile: ArrayLike<number>): void {
    if (this.jit) this.dcache.warm(profile, this.jitHot);
  }

  get instret(): number {
    return this.instretCount;
  }

  get privilege(): number {
    return this.priv;
  }

  /** When this hart's own supervisor timer (Sstc stimecmp) fires, in time ticks; Infinity when off. */
  get timerDeadline(): number {
    return this.menvcfgHi & C.MENVCFG_STCE_HI ? this.stimecmp : Infinity;
  }

  getX(i: number): bigint {
    return BigInt.asUintN(64, (BigInt(this.x[2 * i + 1]) << 32n) | BigInt(this.x[2 * i] >>> 0));
  }

  setX(i: number, v: bigint): void {
    if (i === 0) return;
    this.x[2 * i] = Number(v & 0xffffffffn) | 0;
    this.x[2 * i + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }

  /** Platform-driven interrupt-pending bit (MSIP 3, MTIP 7, MEIP 11, SEIP 9, STIP 5, SSIP 1). */
  setPending(bit: number, level: boolean): void {
    if (bit === C.IRQ_SSI) {
      // SSIP is a software bit that a platform (SBI IPI, ACLINT SSWI) may set.
      if (level) this.mipSw |= 1 << bit;
      else this.mipSw &= ~(1 << bit);
    } else if (level) this.mipHw |= 1 << bit;
    else this.mipHw &= ~(1 << bit);
    this.irqCheck = true;
  }

  flushTlb(): void {
    this.tlbTag.fill(NaN);
    this.tlbW64.fill(-1);
    this.fetchTag = -1;
    this.superN = 0;
  }

  /**
   * SFENCE.VMA for one virtual address: drop that page's entries in every set, and every entry that came
   * from a superpage (it may be part of the one that changed; Linux fences a 2 MiB mapping with one
   * SFENCE.VMA of its address). Linux fences single pages thousands of times in a boot; a full flush
   * cleared 150 KB of TLB and made every page walk again.
   */
  flushTlbPage(lo: number, hi: number): void {
    if (this.superN > SUPER_MAX) {
      this.flushTlb();
      return;
    }
    const vpn = hi * 0x100000 + (lo >>> 12);
    const j = (lo >>> 12) & (TLB_SIZE - 1);
    for (let set = 0; set < 9; set++) {
      const i = set * TLB_SIZE + j;
      if (this.tlbTag[i] === vpn) this.dropTlbEntry(i);
    }
    for (let k = 0; k < this.superN; k++) this.dropTlbEntry(this.superIdx[k]);
    this.superN = 0;
    this.fetchTag = -1;
  }

  private dropTlbEntry(i: number): void {
    this.tlbTag[i] = NaN;
    this.tlbW64[2 * i] = -1;
  }

  /** Privilege or interrupt enables changed (xRET): refetch through the MMU and look at interrupts. */
  privChanged(): void {
    this.fetchTag = -1;
    this.irqCheck = true;
  }

  /** FENCE.I (and the host after writing code into RAM): drop every decoded instruction. */
  flushICache(): void {
    this.dcache.flush();
    this.fetchTag = -1;
  }

  clearReservation(): void {
    this.reservation = -1;
  }

  reset(pc: number): void {
    this.x.fill(0);
    this.fi.fill(0);
    this.pc = pc;
    this.priv = 3;
    this.mstatus = 0;
    this.medeleg = this.mideleg = this.mie = this.mipSw = 0;
    this.csr64.fill(0);
    this.counterOff.fill(0);
    this.fflags = this.frm = 0;
    this.mcounteren = this.scounteren = this.menvcfgHi = 0;
    this.satpMode = this.satpPpn = 0;
    this.stimecmp = Infinity;
    this.reservation = -1;
    this.stop = StopReason.Budget;
    this.irqCheck = true;
    this.flushTlb();
    // The host may have rewritten RAM before a reset: decoded code must come from it afresh.
    this.dcache.flush();
  }

  /** Execute up to `budget` instructions; returns a {@link StopReason}. */
  run(budget: number): number {
    return this.engine === 'reference' ? this.runReference(budget) : runFast(this, budget);
  }

  /**
   * The same as {@link run} one instruction at a time through execute.ts, without the decoded-instruction
   * cache: the reference the fast path is tested against.
   */
  runReference(budget: number): number {
    this.stop = StopReason.Budget;
    let n = 0;
    while (n < budget) {
      if (this.irqCheck) {
        this.irqCheck = false;
        this.checkInterrupts();
      }
      n++;
      // Counted as it goes (not once per run) so instret/cycle read by the guest are current.
      this.instretCount++;
      this.trapped = false;
      const inst = this.fetch();
      if (this.trapped) continue;
      this.retire(inst);
      if (this.stop !== StopReason.Budget) break;
    }
    return this.stop;
  }

  /** Execute the fetched `inst` (ilen and raw16 set) through execute.ts and move the pc past it. */
  retire(inst: number): void {
    execute(this, inst);
    if (!this.trapped) {
      this.pcLo = this.nextLo;
      this.pcHi = this.nextHi;
    }
    this.x[0] = 0;
    this.x[1] = 0;
  }

  // ---------------------------------------------------------------- fetch

  /** interp.ts established the page of `lo, hi` at RAM offset `ramPage`: fetch() may use it too. */
  setFetchPage(lo: number, hi: number, ramPage: number): void {
    this.fetchTag = lo >>> 12;
    this.fetchHi = hi;
    this.fetchOff = ramPage;
  }

  /** Whether a trap, xRET or TLB flush since setFetchPage means the page must be translated again. */
  fetchStale(): boolean {
    return this.fetchTag === -1;
  }

  /** Fetch the instruction at pc (expanding RVC); sets ilen. On a fault, traps and returns 0. */
  fetch(): number {
    const lo = this.pcLo;
    const page = lo >>> 12;
    let off: number;
    if (page === this.fetchTag && this.pcHi === this.fetchHi) {
      off = this.fetchOff + (lo & 0xfff);
    } else {
      const pa = this.translate(lo, this.pcHi, Access.Exec);
      if (pa < 0) return 0;
      off = pa - this.ramBase;
      if (off < 0 || off >= this.ramSize) {
        this.trap(C.EXC_INST_ACCESS, false, lo, this.pcHi);
        return 0;
      }
      this.fetchTag = page;
      this.fetchHi = this.pcHi;
      this.fetchOff = off - (lo & 0xfff);
    }
    const m = this.mem8;
    const low = m[off] | (m[off + 1] << 8);
    if ((low & 3) !== 3) {
      this.ilen = 2;
      this.raw16 = low;
      return RVC_TABLE[low];
    }
    this.ilen = 4;
    this.raw16 = 0;
    if ((lo & 0xfff) !== 0xffe) return low | (m[off + 2] << 16) | (m[off + 3] << 24);
    // A 32-bit instruction straddling a page: fetch its upper half on its own.
    const nlo = (lo + 2) | 0;
    const nhi = nlo >>> 0 < lo >>> 0 ? (this.pcHi + 1) | 0 : this.pcHi;
    const pa = this.translate(nlo, nhi, Access.Exec);
    if (pa < 0) return 0;
    const o2 = pa - this.ramBase;
    if (o2 < 0 || o2 + 2 > this.ramSize) {
      this.trap(C.EXC_INST_ACCESS, false, nlo, nhi);
      return 0;
    }
    return low | (m[o2] << 16) | (m[o2 + 1] << 24);
  }

  // ---------------------------------------------------------------- address translation

  /** Effective privilege of a data access (MPRV). */
  dataPriv(): number {
    return this.priv === 3 && this.mstatus & C.MSTATUS_MPRV ? (this.mstatus >>> 11) & 3 : this.priv;
  }

  /**
   * Virtual → physical for an access of type `acc`. Returns the physical address, or -1 after raising
   * the page or access fault.
   */
  translate(lo: number, hi: number, acc: number): number {
    const priv = acc === Access.Exec ? this.priv : this.dataPriv();
    if (priv === 3 || this.satpMode === 0) return (hi >>> 0) * TWO32 + (lo >>> 0);
    const sum = acc === Access.Exec ? 0 : (this.mstatus >>> 18) & 1;
    // The whole virtual page number, so a non-canonical address never hits a canonical one's entry.
    const vpn = hi * 0x100000 + (lo >>> 12);
    const i = (acc * 3 + (priv === 0 ? 0 : 1 + sum)) * TLB_SIZE + ((lo >>> 12) & (TLB_SIZE - 1));
    if (this.tlbTag[i] === vpn) return this.tlbPa[i] + (lo & 0xfff);
    const page = this.walk(lo, hi, acc, priv, sum);
    if (page < 0) return -1;
    this.tlbTag[i] = vpn;
    this.tlbPa[i] = page;
    if (this.walkSuper) {
      // More than SUPER_MAX since the last flush: the next single-page fence flushes everything.
      if (this.superN < SUPER_MAX) this.superIdx[this.superN] = i;
      if (this.superN <= SUPER_MAX) this.superN++;
    }
    const ro = page - this.ramBase;
    if (ro >= 0 && ro < this.ramSize) {
      this.tlbW64[2 * i] = lo & ~0xfff;
      this.tlbW64[2 * i + 1] = hi;
      this.tlbRam[i] = ro;
    } else this.tlbW64[2 * i] = -1;
    return page + (lo & 0xfff);
  }

  private pageFault(acc: number, lo: number, hi: number): number {
    const cause =
      acc === Access.Exec ? C.EXC_INST_PAGE : acc === Access.Write ? C.EXC_STORE_PAGE : C.EXC_LOAD_PAGE;
    this.trap(cause, false, lo, hi);
    return -1;
  }

  private accessFault(acc: number, lo: number, hi: number): number {
    const cause =
      acc === Access.Exec ? C.EXC_INST_ACCESS : acc === Access.Write ? C.EXC_STORE_ACCESS : C.EXC_LOAD_ACCESS;
    this.trap(cause, false, lo, hi);
    return -1;
  }

  /** Walk the page tables; returns the physical page base or -1 (after the trap). */
  private walk(lo: number, hi: number, acc: number, priv: number, sum: number): number {
    const levels = this.satpMode === 8 ? 3 : 4;
    const vaBits = 12 + 9 * levels;
    // Bits above the virtual address width must equal its top bit.
    const top = vaBits - 32; // 7 for Sv39, 16 for Sv48
    const signBit = (hi >> (top - 1)) & 1;
    if (hi >> top !== (signBit ? -1 : 0)) return this.pageFault(acc, lo, hi);
    const mxr = (this.mstatus >>> 19) & 1;
    let a = this.satpPpn * 4096;
    for (let level = levels - 1; level >= 0; level--) {
      const shift = 12 + 9 * level;
      const vpnI =
        shift >= 32
          ? (hi >>> (shift - 32)) & 0x1ff
          : shift + 9 > 32
            ? ((lo >>> shift) | (hi << (32 - shift))) & 0x1ff
            : (lo >>> shift) & 0x1ff;
      const pteAddr = a + vpnI * 8;
      const off = pteAddr - this.ramBase;
      if (off < 0 || off + 8 > this.ramSize) return this.accessFault(acc, lo, hi);
      const plo = this.dv.getInt32(off, true);
      const phi = this.dv.getInt32(off + 4, true);
      if (!(plo & C.PTE_V) || (!(plo & C.PTE_R) && plo & C.PTE_W) || phi >>> 22 !== 0) {
        // Reserved high bits (Svnapot/Svpbmt/N not implemented) make the PTE invalid.
        return this.pageFault(acc, lo, hi);
      }
      const ppn = (phi & 0x3fffff) * 0x400000 + (plo >>> 10);
      if (!(plo & (C.PTE_R | C.PTE_X))) {
        if (level === 0) return this.pageFault(acc, lo, hi);
        a = ppn * 4096;
        continue;
      }
      // A leaf: check permissions.
      if (plo & C.PTE_U) {
        if (priv === 1 && (acc === Access.Exec || !sum)) return this.pageFault(acc, lo, hi);
      } else if (priv === 0) return this.pageFault(acc, lo, hi);
      if (acc === Access.Exec && !(plo & C.PTE_X)) return this.pageFault(acc, lo, hi);
      if (acc === Access.Read && !(plo & C.PTE_R) && !(mxr && plo & C.PTE_X))
        return this.pageFault(acc, lo, hi);
      if (acc === Access.Write && !(plo & C.PTE_W)) return this.pageFault(acc, lo, hi);
      // A superpage's low PPN bits must be zero.
      const span = SPAN[level];
      if (ppn % span !== 0) return this.pageFault(acc, lo, hi);
      const want = C.PTE_A | (acc === Access.Write ? C.PTE_D : 0);
      if ((plo & want) !== want) {
        // Another hart may be changing this PTE (Linux clears A with an AMO): or the bits in atomically.
        if (this.shared) Atomics.or(this.mem32, off >> 2, want);
        else this.dv.setInt32(off, plo | want, true);
        this.dcache.written(off, 4);
      }
      // Physical page = ppn with the low `level` VPN fields taken from the virtual address.
      const vpnLow = level === 0 ? 0 : ((hi & 0xffff) * 0x100000 + (lo >>> 12)) % span;
      this.walkSuper = level > 0;
      return (ppn + vpnLow) * 4096;
    }
    return this.pageFault(acc, lo, hi);
  }

  // ---------------------------------------------------------------- loads and stores

  /**
   * Load `size` bytes (1, 2, 4, 8) at virtual (lo, hi) into tmp[0..1] (zero-extended; callers sign-extend).
   * Returns false after raising a fault.
   */
  load(lo: number, hi: number, size: number): boolean {
    if ((lo & (size - 1)) !== 0) return this.loadMisaligned(lo, hi, size);
    const pa = this.translate(lo, hi, Access.Read);
    if (pa < 0) return false;
    const off = pa - this.ramBase;
    const t = this.tmp;
    if (off >= 0 && off + size <= this.ramSize) {
      switch (size) {
        case 1:
          t[0] = this.mem8[off];
          break;
        case 2:
          t[0] = this.mem8[off] | (this.mem8[off + 1] << 8);
          break;
        case 4:
          t[0] = this.mem32[off >> 2];
          break;
        default:
          t[0] = this.mem32[off >> 2];
          t[1] = this.mem32[(off >> 2) + 1];
          return true;
      }
      t[1] = 0;
      return true;
    }
    return this.loadMmio(pa, size, lo, hi);
  }

  private loadMmio(pa: number, size: number, lo: number, hi: number): boolean {
    const t = this.tmp;
    if (size === 8) {
      const a = this.bus.read(pa, 4);
      const b = a < 0 ? -1 : this.bus.read(pa + 4, 4);
      if (b < 0) return this.accessFault(Access.Read, lo, hi) >= 0;
      t[0] = a | 0;
      t[1] = b | 0;
      return true;
    }
    const v = this.bus.read(pa, size as 1 | 2 | 4);
    if (v < 0) return this.accessFault(Access.Read, lo, hi) >= 0;
    t[0] = v | 0;
    t[1] = 0;
    return true;
  }

  private loadMisaligned(lo: number, hi: number, size: number): boolean {
    // Emulated byte by byte (Linux accepts either emulation or a trap; QEMU emulates for RAM).
    let vlo = 0;
    let vhi = 0;
    for (let i = 0; i < size; i++) {
      const alo = (lo + i) | 0;
      const ahi = alo >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi;
      if (!this.load(alo, ahi, 1)) return false;
      const b = this.tmp[0] & 0xff;
      if (i < 4) vlo |= b << (8 * i);
      else vhi |= b << (8 * (i - 4));
    }
    this.tmp[0] = vlo;
    this.tmp[1] = vhi;
    return true;
  }

  /** Store the low `size` bytes of (vlo, vhi) at virtual (lo, hi); false after raising a fault. */
  store(lo: number, hi: number, size: number, vlo: number, vhi: number): boolean {
    if ((lo & (size - 1)) !== 0) return this.storeMisaligned(lo, hi, size, vlo, vhi);
    const pa = this.translate(lo, hi, Access.Write);
    if (pa < 0) return false;
    const off = pa - this.ramBase;
    if (off >= 0 && off + size <= this.ramSize) {
      if (this.reservation >= 0 && Math.abs(pa - this.reservation) < 8) this.reservation = -1;
      switch (size) {
        case 1:
          this.mem8[off] = vlo;
          break;
        case 2:
          this.mem8[off] = vlo;
          this.mem8[off + 1] = vlo >> 8;
          break;
        case 4:
          this.mem32[off >> 2] = vlo;
          break;
        default:
          this.mem32[off >> 2] = vlo;
          this.mem32[(off >> 2) + 1] = vhi;
      }
      if (this.dcache.pageSlot[off >>> 12] >= 0) this.dcache.written(off, size);
      return true;
    }
    let ok: boolean;
    if (size === 8) ok = this.bus.write(pa, 4, vlo >>> 0) && this.bus.write(pa + 4, 4, vhi >>> 0);
    else
      ok = this.bus.write(pa, size as 1 | 2 | 4, size === 4 ? vlo >>> 0 : vlo & (size === 1 ? 0xff : 0xffff));
    if (!ok) return this.accessFault(Access.Write, lo, hi) >= 0;
    return true;
  }

  private storeMisaligned(lo: number, hi: number, size: number, vlo: number, vhi: number): boolean {
    // Check every byte translates before writing any, so a fault leaves memory unchanged.
    for (let i = 0; i < size; i++) {
      const alo = (lo + i) | 0;
      const ahi = alo >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi;
      if (this.translate(alo, ahi, Access.Write) < 0) return false;
    }
    for (let i = 0; i < size; i++) {
      const alo = (lo + i) | 0;
      const ahi = alo >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi;
      const b = i < 4 ? vlo >>> (8 * i) : vhi >>> (8 * (i - 4));
      if (!this.store(alo, ahi, 1, b & 0xff, 0)) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- traps and interrupts

  /** Current mip as the guest sees it, including Sstc's STIP. */
  mip(): number {
    let v = this.mipSw | this.mipHw;
    if (this.menvcfgHi & C.MENVCFG_STCE_HI) {
      v = (v & ~(1 << C.IRQ_STI)) | (this.time() >= this.stimecmp ? 1 << C.IRQ_STI : 0);
    }
    return v;
  }

  /** Take the highest-priority enabled pending interrupt, if any. */
  checkInterrupts(): void {
    const bits = this.readyInterrupts();
    if (bits) this.takeInterrupt(bits);
  }

  /** The pending interrupts that would be taken now, of the level taken first (0: none). */
  readyInterrupts(): number {
    const pending = this.mip() & this.mie;
    if (pending === 0) return 0;
    const mLevel = pending & ~this.mideleg;
    if (mLevel && (this.priv < 3 || this.mstatus & C.MSTATUS_MIE)) return mLevel;
    const sLevel = pending & this.mideleg;
    if (sLevel && (this.priv < 1 || (this.priv === 1 && this.mstatus & C.MSTATUS_SIE))) return sLevel;
    return 0;
  }

  private takeInterrupt(bits: number): void {
    for (const i of C.IRQ_PRIORITY) {
      if (bits & (1 << i)) {
        this.trap(i, true, 0, 0);
        return;
      }
    }
  }

  /** Enter the trap handler for `cause` at the current pc. */
  trap(cause: number, interrupt: boolean, tvalLo: number, tvalHi: number): void {
    const deleg = interrupt ? this.mideleg : this.medeleg;
    const c64 = this.csr64;
    const causeHi = interrupt ? 0x80000000 | 0 : 0;
    if (this.priv <= 1 && (deleg >>> cause) & 1) {
      c64[2 * C.CSR_SCAUSE] = cause;
      c64[2 * C.CSR_SCAUSE + 1] = causeHi;
      c64[2 * C.CSR_SEPC] = this.pcLo;
      c64[2 * C.CSR_SEPC + 1] = this.pcHi;
      c64[2 * C.CSR_STVAL] = tvalLo;
      c64[2 * C.CSR_STVAL + 1] = tvalHi;
      let s = this.mstatus;
      s = s & C.MSTATUS_SIE ? s | C.MSTATUS_SPIE : s & ~C.MSTATUS_SPIE;
      s = this.priv === 1 ? s | C.MSTATUS_SPP : s & ~C.MSTATUS_SPP;
      this.mstatus = s & ~C.MSTATUS_SIE;
      this.priv = 1;
      this.jumpToVector(C.CSR_STVEC, cause, interrupt);
    } else {
      c64[2 * C.CSR_MCAUSE] = cause;
      c64[2 * C.CSR_MCAUSE + 1] = causeHi;
      c64[2 * C.CSR_MEPC] = this.pcLo;
      c64[2 * C.CSR_MEPC + 1] = this.pcHi;
      c64[2 * C.CSR_MTVAL] = tvalLo;
      c64[2 * C.CSR_MTVAL + 1] = tvalHi;
      let s = this.mstatus;
      s = s & C.MSTATUS_MIE ? s | C.MSTATUS_MPIE : s & ~C.MSTATUS_MPIE;
      s = (s & ~C.MSTATUS_MPP) | (this.priv << 11);
      this.mstatus = s & ~C.MSTATUS_MIE;
      this.priv = 3;
      this.jumpToVector(C.CSR_MTVEC, cause, interrupt);
    }
    this.trapped = true;
    this.reservation = -1;
    this.fetchTag = -1;
  }

  private jumpToVector(tvec: number, cause: number, interrupt: boolean): void {
    const lo = this.csr64[2 * tvec];
    const hi = this.csr64[2 * tvec + 1];
    let base = lo & ~3;
    if (interrupt && (lo & 3) === 1) base = (base + 4 * cause) | 0;
    this.pcLo = base;
    this.pcHi = hi;
  }

  /** An illegal instruction: tval is the instruction's own bits (the 16-bit form for RVC). */
  illegal(inst: number): void {
    this.trap(C.EXC_ILLEGAL, false, this.ilen === 2 ? this.raw16 : inst, 0);
  }
}
