/**
 * The RISC-V Supervisor Binary Interface implemented by the host, so Linux boots without an M-mode
 * firmware image. Extensions: BASE, legacy console, TIME, IPI, RFENCE, HSM, SRST, DBCN (SBI spec 2.0).
 */
import type { GuestMemory, Logger } from '@virtio-desktop/virtio-core';

export const SbiError = {
  Success: 0n,
  Failed: -1n,
  NotSupported: -2n,
  InvalidParam: -3n,
  Denied: -4n,
  InvalidAddress: -5n,
  AlreadyAvailable: -6n,
  AlreadyStarted: -7n,
  AlreadyStopped: -8n,
} as const;

export const Eid = {
  LegacySetTimer: 0x00,
  LegacyPutchar: 0x01,
  LegacyGetchar: 0x02,
  LegacyShutdown: 0x08,
  Base: 0x10,
  Time: 0x54494d45,
  Ipi: 0x735049,
  Rfence: 0x52464e43,
  Hsm: 0x48534d,
  Srst: 0x53525354,
  Dbcn: 0x4442434e,
} as const;

const SUPPORTED = new Set<number>([
  Eid.LegacySetTimer,
  Eid.LegacyPutchar,
  Eid.LegacyGetchar,
  Eid.LegacyShutdown,
  Eid.Base,
  Eid.Time,
  Eid.Ipi,
  Eid.Rfence,
  Eid.Hsm,
  Eid.Srst,
  Eid.Dbcn,
]);

/** Our SBI implementation ID (unregistered, outside the IDs the spec lists): "VD". */
export const SBI_IMPL_ID = 0x5644n;

/** What SBI needs of a hart. */
export interface SbiHart {
  getX(i: number): bigint;
  setX(i: number, v: bigint): void;
  setPending(bit: number, level: boolean): void;
  flushTlb(): void;
  flushICache(): void;
}

export const enum HartState {
  Started = 0,
  Stopped = 1,
  StartPending = 2,
  StopPending = 3,
  Suspended = 4,
}

/** What SBI needs of the machine. */
export interface SbiHost {
  readonly harts: readonly SbiHart[];
  readonly memory: GuestMemory;
  readonly log: Logger;
  /** Current platform time (mtime ticks). */
  now(): number;
  /** Arm hart h's supervisor timer for `deadline` ticks (Infinity = off). */
  setTimer(h: number, deadline: number): void;
  hartState(h: number): HartState;
  /** Start a stopped hart in S-mode at `addr` with a0 = hartid, a1 = opaque. */
  startHart(h: number, addr: number, opaque: bigint): void;
  stopHart(h: number): void;
  /** The guest asked to power off (type 0) or reboot (1, 2). */
  systemReset(kind: 'shutdown' | 'reboot', reason: number): void;
  consoleWrite(bytes: Uint8Array): void;
  /** Up to `max` pending input bytes (possibly none). */
  consoleRead(max: number): Uint8Array;
}

const MASK64 = (1n << 64n) - 1n;
const toNumber = (v: bigint): number => Number(v & MASK64);

/** Maximum bytes one DBCN write copies, so a guest cannot make the host allocate without bound. */
const DBCN_MAX = 4096;

export class Sbi {
  constructor(private readonly host: SbiHost) {}

  /** Handle the ECALL hart `h` just made; sets a0 (error) and a1 (value). */
  handle(h: number): void {
    const hart = this.host.harts[h];
    const eid = toNumber(hart.getX(17));
    const fid = toNumber(hart.getX(16));
    const a = (i: number): bigint => hart.getX(10 + i) & MASK64;
    let err: bigint = SbiError.Success;
    let val = 0n;
    const ret = (e: bigint, v = 0n): void => {
      err = e;
      val = v;
    };
    switch (eid) {
      case Eid.LegacySetTimer:
        this.setTimer(h, a(0));
        hart.setX(10, 0n);
        return;
      case Eid.LegacyPutchar:
        this.host.consoleWrite(new Uint8Array([Number(a(0) & 0xffn)]));
        hart.setX(10, 0n);
        return;
      case Eid.LegacyGetchar: {
        const b = this.host.consoleRead(1);
        hart.setX(10, b.length ? BigInt(b[0]) : -1n);
        return;
      }
      case Eid.LegacyShutdown:
        this.host.systemReset('shutdown', 0);
        return;
      case Eid.Base:
        this.base(fid, a(0), ret);
        break;
      case Eid.Time:
        if (fid === 0) this.setTimer(h, a(0));
        else ret(SbiError.NotSupported);
        break;
      case Eid.Ipi:
        if (fid === 0) ret(this.forHarts(a(0), a(1), (t) => this.host.harts[t].setPending(1, true)));
        else ret(SbiError.NotSupported);
        break;
      case Eid.Rfence:
        this.rfence(fid, a(0), a(1), ret);
        break;
      case Eid.Hsm:
        this.hsm(h, fid, a, ret);
        break;
      case Eid.Srst:
        this.srst(fid, a(0), a(1), ret);
        break;
      case Eid.Dbcn:
        this.dbcn(fid, a, ret);
        break;
      default:
        ret(SbiError.NotSupported);
    }
    hart.setX(10, err);
    hart.setX(11, val);
  }

  private setTimer(h: number, deadline: bigint): void {
    // Linux writes U64_MAX to mean "no timer"; anything past 2^53 ticks (28 years at 10 MHz) is "never".
    this.host.setTimer(h, deadline >= 1n << 53n ? Infinity : Number(deadline));
  }

  private base(fid: number, arg: bigint, ret: (e: bigint, v?: bigint) => void): void {
    switch (fid) {
      case 0:
        return ret(SbiError.Success, 2n << 24n); // spec version 2.0
      case 1:
        return ret(SbiError.Success, SBI_IMPL_ID);
      case 2:
        return ret(SbiError.Success, 1n);
      case 3:
        return ret(SbiError.Success, arg <= 0xffffffffn && SUPPORTED.has(Number(arg)) ? 1n : 0n);
      case 4:
      case 5:
      case 6:
        return ret(SbiError.Success, 0n);
      default:
        return ret(SbiError.NotSupported);
    }
  }

  /** Apply `fn` to every hart selected by (mask, base); base = -1 selects all harts. */
  private forHarts(mask: bigint, base: bigint, fn: (h: number) => void): bigint {
    const n = this.host.harts.length;
    if (base === MASK64) {
      for (let h = 0; h < n; h++) fn(h);
      return SbiError.Success;
    }
    const targets: number[] = [];
    for (let i = 0n; i < 64n; i++) {
      if (!((mask >> i) & 1n)) continue;
      const h = base + i;
      if (h >= BigInt(n)) return SbiError.InvalidParam;
      targets.push(Number(h));
    }
    for (const h of targets) fn(h);
    return SbiError.Success;
  }

  private rfence(fid: number, mask: bigint, base: bigint, ret: (e: bigint) => void): void {
    const harts = this.host.harts;
    switch (fid) {
      case 0: // remote FENCE.I
        return ret(this.forHarts(mask, base, (h) => harts[h].flushICache()));
      case 1: // remote SFENCE.VMA
      case 2: // remote SFENCE.VMA with ASID: a full flush is always correct
        return ret(this.forHarts(mask, base, (h) => harts[h].flushTlb()));
      default:
        return ret(SbiError.NotSupported);
    }
  }

  private hsm(h: number, fid: number, a: (i: number) => bigint, ret: (e: bigint, v?: bigint) => void): void {
    const n = BigInt(this.host.harts.length);
    switch (fid) {
      case 0: {
        const target = a(0);
        if (target >= n) return ret(SbiError.InvalidParam);
        const t = Number(target);
        if (this.host.hartState(t) !== HartState.Stopped) return ret(SbiError.AlreadyAvailable);
        const addr = a(1);
        if (!this.host.memory.contains(Number(addr & ((1n << 53n) - 1n)), 4) || addr >= 1n << 53n)
          return ret(SbiError.InvalidAddress);
        this.host.startHart(t, Number(addr), a(2));
        return ret(SbiError.Success);
      }
      case 1:
        this.host.stopHart(h);
        return ret(SbiError.Success);
      case 2: {
        const target = a(0);
        if (target >= n) return ret(SbiError.InvalidParam);
        return ret(SbiError.Success, BigInt(this.host.hartState(Number(target))));
      }
      case 3: {
        // Only the default retentive suspend: behaves like WFI, which the CPU loop already models.
        const type = a(0);
        if (type === 0n) return ret(SbiError.Success);
        return ret(SbiError.NotSupported);
      }
      default:
        return ret(SbiError.NotSupported);
    }
  }

  private srst(fid: number, type: bigint, reason: bigint, ret: (e: bigint) => void): void {
    if (fid !== 0) return ret(SbiError.NotSupported);
    if (type === 0n) this.host.systemReset('shutdown', Number(reason & 0xffffffffn));
    else if (type === 1n || type === 2n) this.host.systemReset('reboot', Number(reason & 0xffffffffn));
    else return ret(SbiError.InvalidParam);
    ret(SbiError.Success);
  }

  private dbcn(fid: number, a: (i: number) => bigint, ret: (e: bigint, v?: bigint) => void): void {
    const mem = this.host.memory;
    if (fid === 2) {
      this.host.consoleWrite(new Uint8Array([Number(a(0) & 0xffn)]));
      return ret(SbiError.Success);
    }
    if (fid !== 0 && fid !== 1) return ret(SbiError.NotSupported);
    const len = a(0) > BigInt(DBCN_MAX) ? DBCN_MAX : Number(a(0));
    const addr = (a(2) << 32n) | (a(1) & 0xffffffffn);
    if (addr >= 1n << 53n) return ret(SbiError.InvalidParam);
    const view = mem.view(Number(addr), len);
    if (!view) return ret(SbiError.InvalidParam);
    if (fid === 0) {
      this.host.consoleWrite(view.slice());
      return ret(SbiError.Success, BigInt(len));
    }
    const got = this.host.consoleRead(len);
    view.set(got);
    return ret(SbiError.Success, BigInt(got.length));
  }
}
