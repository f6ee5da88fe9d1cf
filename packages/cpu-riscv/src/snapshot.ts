/**
 * A hart's architectural state for snapshots: registers, pc, privilege, CSRs, counters, the LR
 * reservation and the pending-interrupt bits. Nothing derived is saved: the TLB, the fetch page, the
 * decoded-instruction and JIT caches (all keyed by RAM contents) start empty after a restore, as on a
 * freshly created hart.
 */
import { SnapshotError, StateReader, bytesOf, fillFrom, type SavedState } from '@virtio-desktop/virtio-core';
import type { Hart } from './hart.js';

/** Layout version of {@link saveHart}'s data. */
export const HART_STATE_VERSION = 1;

const I32 = -0x8000_0000;
const U32 = 0xffff_ffff;

/** The hart's architectural state as plain data (typed arrays copied as bytes). */
export function saveHart(h: Hart): SavedState {
  // csr64 holds every side-effect-free 64-bit CSR by number (8192 words, mostly zero): keep the nonzero.
  const csr: number[] = [];
  for (let i = 0; i < h.csr64.length; i++) if (h.csr64[i] !== 0) csr.push(i, h.csr64[i]);
  return {
    version: HART_STATE_VERSION,
    data: {
      hartId: h.hartId,
      x: bytesOf(h.x),
      f: bytesOf(h.fi),
      pcLo: h.pcLo,
      pcHi: h.pcHi,
      priv: h.priv,
      instret: h.instretCount,
      counterOff: [...h.counterOff],
      mstatus: h.mstatus,
      medeleg: h.medeleg,
      mideleg: h.mideleg,
      mie: h.mie,
      mipSw: h.mipSw,
      mipHw: h.mipHw,
      csr64: csr,
      fflags: h.fflags,
      frm: h.frm,
      mcounteren: h.mcounteren,
      scounteren: h.scounteren,
      menvcfgHi: h.menvcfgHi,
      satpMode: h.satpMode,
      satpPpn: h.satpPpn,
      stimecmp: h.stimecmp,
      reservation: h.reservation,
      resvLo: h.resvLo,
      resvHi: h.resvHi,
    },
  };
}

/**
 * Put a saved state on `h` (a hart of a machine with the same RAM layout). Every value is checked first,
 * so a damaged state changes nothing; then the TLB and the decoded-instruction cache are flushed.
 */
export function restoreHart(h: Hart, s: SavedState): void {
  const r = StateReader.of(s, `hart ${h.hartId}`, [HART_STATE_VERSION]);
  if (r.int('hartId') !== h.hartId) throw r.fail('hartId', `is ${String(r.raw('hartId'))}`);
  const x = r.bytes('x', h.x.byteLength);
  const f = r.bytes('f', h.fi.byteLength);
  const priv = r.int('priv', 0, 3);
  if (priv === 2) throw r.fail('priv', 'is 2 (no H-mode)');
  const csr = r.ints('csr64', I32, U32);
  if (csr.length % 2) throw r.fail('csr64', 'has an odd length');
  for (let i = 0; i < csr.length; i += 2)
    if (csr[i] < 0 || csr[i] >= h.csr64.length) throw r.fail('csr64', `names word ${csr[i]}`);
  const counterOff = r.ints('counterOff', I32, U32, 4);
  const v = {
    pcLo: r.int('pcLo', I32, U32),
    pcHi: r.int('pcHi', I32, U32),
    instret: r.int('instret', 0),
    mstatus: r.int('mstatus', I32, U32),
    medeleg: r.int('medeleg', I32, U32),
    mideleg: r.int('mideleg', I32, U32),
    mie: r.int('mie', I32, U32),
    mipSw: r.int('mipSw', I32, U32),
    mipHw: r.int('mipHw', I32, U32),
    fflags: r.int('fflags', 0, 31),
    frm: r.int('frm', 0, 7),
    mcounteren: r.int('mcounteren', I32, U32),
    scounteren: r.int('scounteren', I32, U32),
    menvcfgHi: r.int('menvcfgHi', I32, U32),
    satpMode: r.int('satpMode', 0, 15),
    satpPpn: r.int('satpPpn', 0),
    stimecmp: r.num('stimecmp', 0),
    reservation: r.int('reservation', -1),
    resvLo: r.int('resvLo', I32, U32),
    resvHi: r.int('resvHi', I32, U32),
  };
  if (!fillFrom(h.x, x) || !fillFrom(h.fi, f))
    throw new SnapshotError(`hart ${h.hartId}: register sizes differ`);
  h.x[0] = h.x[1] = 0;
  h.pcLo = v.pcLo | 0;
  h.pcHi = v.pcHi | 0;
  h.priv = priv;
  h.instretCount = v.instret;
  for (let i = 0; i < 4; i++) h.counterOff[i] = counterOff[i] | 0;
  h.mstatus = v.mstatus | 0;
  h.medeleg = v.medeleg | 0;
  h.mideleg = v.mideleg | 0;
  h.mie = v.mie | 0;
  h.mipSw = v.mipSw | 0;
  h.mipHw = v.mipHw | 0;
  h.csr64.fill(0);
  for (let i = 0; i < csr.length; i += 2) h.csr64[csr[i]] = csr[i + 1] | 0;
  h.fflags = v.fflags;
  h.frm = v.frm;
  h.mcounteren = v.mcounteren | 0;
  h.scounteren = v.scounteren | 0;
  h.menvcfgHi = v.menvcfgHi | 0;
  h.satpMode = v.satpMode;
  h.satpPpn = v.satpPpn;
  h.stimecmp = v.stimecmp;
  h.reservation = v.reservation;
  h.resvLo = v.resvLo | 0;
  h.resvHi = v.resvHi | 0;
  h.stop = 0;
  h.trapped = false;
  h.irqCheck = true;
  // Derived state starts empty, as on a new hart: translations and decoded/compiled code come from the
  // restored RAM and page tables afresh.
  h.flushTlb();
  h.flushICache();
}
