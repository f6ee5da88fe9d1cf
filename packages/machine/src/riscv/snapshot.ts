/**
 * Snapshots of a riscv64 machine: every part saves its own versioned state (harts through the CPU
 * part, PLIC, CLINT, clock, UART, each virtio transport with its device), RAM is stored as its non-zero
 * pages in sections compressed independently (so a restore inflates them in parallel on the host's
 * threads), and the whole goes through snapshot-file.ts. Browser-safe: files and zlib are the Node
 * glue's (node.ts).
 */
import {
  SnapshotError,
  StateReader,
  decodeState,
  encodeState,
  type SavedState,
  type StateValue,
} from '@virtio-desktop/virtio-core';
import type { Manifest } from '../manifest.js';
import {
  RAM_SECTION_BYTES,
  SNAPSHOT_FORMAT,
  defaultCodec,
  manifestSha256,
  openSnapshot,
  writeSnapshotFile,
  type OpenedSnapshot,
  type SnapshotCodec,
  type SnapshotHeader,
} from '../snapshot-file.js';
import type { BootLayout } from './boot.js';
import type { RiscvMachine } from './machine.js';
import type { RiscvParts } from './parts.js';
import type { HartState } from './sbi.js';

const PAGE = 4096;

export interface SnapshotOptions {
  /** Compression and checksum functions (Node: zlib, see node.ts); default CompressionStream. */
  codec?: SnapshotCodec;
  /** Called with the header once it is known (sizes for a report). */
  onHeader?(h: SnapshotHeader): void;
  /** Called with how long the harts stood still while the state was captured, in milliseconds. */
  onPaused?(ms: number): void;
  /**
   * Save the CPU part's code profile too (CpuPart.saveCode), so that the restored machine compiles that
   * code on arrival. Off by default: on the desktop a restore with ours reached a terminal that answers
   * later (2.60 s against 2.07 s, 2.55 against 1.91 s of CPU), compiling at once more than it needed.
   */
  code?: boolean;
}

/** What snapshot.ts needs of a machine's private run-loop state (RiscvMachine.internals()). */
export interface MachineInternals {
  readonly manifest: Manifest;
  readonly baseDir: string | undefined;
  readonly parts: RiscvParts;
  readonly state: HartState[];
  readonly waiting: boolean[];
  readonly stimecmp: number[];
  readonly consoleIn: number[];
  readonly hotplugged: ReadonlySet<string>;
  layout(): BootLayout | null;
  setLayout(l: BootLayout | null): void;
  /** Stop running harts (between slices) until the returned function is called. */
  pause(): () => void;
  markRestored(): void;
  /** Harts on threads: the saved states run() gives the workers once they are spawned. */
  setThreadedRestore(states: SavedState[]): void;
}

const asValue = (s: SavedState): StateValue => s as unknown as StateValue;
const asState = (v: StateValue): SavedState => v as unknown as SavedState;

/** Why this machine cannot be snapshotted, or null. */
function refusal(m: RiscvMachine, x: MachineInternals): string | null {
  if (x.hotplugged.size)
    return `hotplugged devices (${[...x.hotplugged].join(', ')}) are not in the manifest, so a snapshot could not be restored`;
  if (!m.threads && (!x.parts.saveHart || !x.parts.restoreHart))
    return 'the CPU part cannot save its harts (no saveHart)';
  const parts: [string, { saveState?: unknown; restoreState?: unknown }][] = [
    ['the clock', m.clock],
    ['the interrupt controller', m.plic],
    ['the timer (CLINT)', m.clint],
  ];
  for (const [what, p] of parts)
    if (typeof p.saveState !== 'function' || typeof p.restoreState !== 'function')
      return `${what} does not implement saveState/restoreState`;
  return null;
}

/** The device's name in messages: its manifest id and package. */
const named = (d: { id: string; plugin: string }): string => `device "${d.id}" (${d.plugin})`;

async function wrap<T>(what: string, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof SnapshotError) throw new SnapshotError(`${what}: ${e.message}`);
    throw new SnapshotError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** RAM as a bitmap of non-zero pages and those pages back to back (copied: the guest runs on). */
function saveRam(bytes: Uint8Array): { present: Uint8Array; pages: Uint8Array; inUse: number } {
  const pages = bytes.length / PAGE;
  const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  const present = new Uint8Array(Math.ceil(pages / 8));
  let count = 0;
  for (let p = 0; p < pages; p++) {
    const end = (p + 1) * (PAGE >> 2);
    for (let i = p * (PAGE >> 2); i < end; i++)
      if (words[i] !== 0) {
        present[p >> 3] |= 1 << (p & 7);
        count++;
        break;
      }
  }
  const out = new Uint8Array(count * PAGE);
  let at = 0;
  for (let p = 0; p < pages; p++)
    if (present[p >> 3] & (1 << (p & 7))) {
      out.set(bytes.subarray(p * PAGE, (p + 1) * PAGE), at);
      at += PAGE;
    }
  return { present, pages: out, inUse: count * PAGE };
}

export async function takeSnapshot(
  m: RiscvMachine,
  x: MachineInternals,
  o: SnapshotOptions,
): Promise<Uint8Array> {
  const why = refusal(m, x);
  if (why) throw new SnapshotError(why);
  const codec = o.codec ?? defaultCodec();
  const t0 = performance.now();
  // Harts on threads stop in their workers and hand over their states; others stop between slices here.
  const mt = m.threads;
  const held = mt ? await mt.hold() : null;
  const resume = mt ? () => mt.release() : x.pause();
  let tree: StateValue;
  let inUse: number;
  let ramPages: Uint8Array;
  try {
    // The harts stand still from here; devices finish what the host still does for them.
    for (const d of m.devices) await wrap(named(d), () => d.transport.prepareSnapshot());
    const devices: StateValue[] = [];
    for (const d of m.devices)
      devices.push({
        id: d.id,
        plugin: d.plugin,
        base: d.base,
        state: asValue(await wrap(named(d), () => d.transport.saveState())),
      });
    const ram = saveRam(m.ram.bytes);
    inUse = ram.inUse;
    ramPages = ram.pages;
    const layout = x.layout();
    tree = {
      machine: {
        harts: x.state.length,
        state: [...x.state],
        // A held worker is between two slices, never inside WFI (it runs on past it, as WFI may).
        waiting: mt ? x.state.map(() => false) : [...x.waiting],
        stimecmp: mt ? x.state.map((_, h) => mt.timer(h)) : [...x.stimecmp],
        consoleIn: new Uint8Array(x.consoleIn),
        layout: layout ? (JSON.parse(JSON.stringify(layout)) as StateValue) : null,
      },
      harts: held ? held.map(asValue) : m.harts.map((h) => asValue(x.parts.saveHart!(h))),
      // The CPU's code profile (optional, on request): a restored machine compiles its hot code at once.
      code: o.code && x.parts.saveCode && m.harts.length ? asValue(x.parts.saveCode(m.harts)) : null,
      clock: asValue(m.clock.saveState!()),
      plic: asValue(m.plic.saveState!()),
      clint: asValue(m.clint.saveState!()),
      uart: asValue(m.uart.saveState()),
      devices,
      ram: { base: m.ram.base, size: m.ram.size, pageSize: PAGE, present: ram.present },
    };
  } finally {
    resume();
    o.onPaused?.(performance.now() - t0);
  }
  const raw = encodeState(tree);
  // The state tree and each RAM section compress at once (zlib's thread pool in Node).
  const parts = [raw];
  for (let at = 0; at < ramPages.length; at += RAM_SECTION_BYTES)
    parts.push(ramPages.subarray(at, Math.min(at + RAM_SECTION_BYTES, ramPages.length)));
  const stored = await Promise.all(parts.map((p) => codec.compress(p)));
  const payload = new Uint8Array(stored.reduce((n, p) => n + p.length, 0));
  stored.reduce((at, p) => (payload.set(p, at), at + p.length), 0);
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    created: new Date().toISOString(),
    manifestSha256: await manifestSha256(x.manifest),
    manifest: x.manifest,
    ...(x.baseDir === undefined ? {} : { baseDir: x.baseDir }),
    ramInUse: inUse,
    ramSize: m.ram.size,
    compression: codec.compression,
    rawBytes: parts.reduce((n, p) => n + p.length, 0),
    payloadBytes: payload.length,
    sections: parts.map((p, i) => ({ raw: p.length, stored: stored[i].length })),
    ramStoredBytes: stored.slice(1).reduce((n, p) => n + p.length, 0),
  };
  o.onHeader?.(header);
  return writeSnapshotFile(header, payload, codec);
}

export async function restoreSnapshot(
  m: RiscvMachine,
  x: MachineInternals,
  file: Uint8Array | OpenedSnapshot,
  o: SnapshotOptions,
): Promise<void> {
  // The sections start inflating now (or did when the caller opened the file), in parallel, while the
  // state tree is checked.
  const snap =
    file instanceof Uint8Array ? openSnapshot(file, { codec: o.codec, maxRamBytes: m.ram.size }) : file;
  const { header } = snap;
  o.onHeader?.(header);
  const mine = await manifestSha256(x.manifest);
  if (header.manifestSha256 !== mine)
    throw new SnapshotError(
      `taken of another machine: its manifest (sha256 ${header.manifestSha256.slice(0, 12)}…) is not this machine's (${mine.slice(0, 12)}…)`,
    );
  const why = refusal(m, x);
  if (why) throw new SnapshotError(why);
  if (snap.maxRamBytes > m.ram.size)
    throw new SnapshotError('opened for a machine with more RAM than this one (openSnapshot maxRamBytes)');
  const raw = await snap.sections[0];
  const top = new StateReader(decodeState(raw), 'snapshot');

  // Check the machine's shape before changing anything.
  const mr = top.sub('machine');
  const n = x.state.length;
  if (mr.int('harts') !== n) throw mr.fail('harts', `is not ${n}`);
  const ram = top.sub('ram');
  if (ram.int('size') !== m.ram.size || ram.int('base') !== m.ram.base || ram.int('pageSize') !== PAGE)
    throw ram.fail('size', 'or base differs from this machine');
  const pageCount = m.ram.size / PAGE;
  const present = ram.bytes('present', Math.ceil(pageCount / 8));
  let count = 0;
  for (let p = 0; p < pageCount; p++) if (present[p >> 3] & (1 << (p & 7))) count++;
  const ramSections = header.sections.slice(1);
  if (
    ramSections.reduce((b, s) => b + s.raw, 0) !== count * PAGE ||
    ramSections.some((s, k) =>
      k < ramSections.length - 1 ? s.raw !== RAM_SECTION_BYTES : s.raw % PAGE !== 0,
    )
  )
    throw ram.fail('present', 'does not match the pages stored');
  const saved = top.arr('devices', 64);
  if (saved.length !== m.devices.length)
    throw top.fail('devices', `lists ${saved.length} devices, this machine has ${m.devices.length}`);
  const state = mr.ints('state', 0, 4, n) as HartState[];
  const waiting = mr.arr('waiting');
  const stimecmp = mr.arr('stimecmp');
  if (waiting.length !== n || stimecmp.length !== n || !waiting.every((w) => typeof w === 'boolean'))
    throw mr.fail('waiting', 'or stimecmp does not match the harts');
  if (!stimecmp.every((t) => typeof t === 'number' && t >= 0))
    throw mr.fail('stimecmp', 'holds a bad deadline');
  const consoleIn = mr.bytes('consoleIn');
  if (consoleIn.length > 4096) throw mr.fail('consoleIn', 'is too long');
  const layoutValue = mr.raw('layout');
  const layout = layoutValue === null ? null : readLayout(mr.sub('layout'));

  const pages = await Promise.all(snap.sections.slice(1));

  // RAM first: devices find the chains they held in the restored rings.
  const bytes = m.ram.bytes;
  // A machine that never booted has zero RAM already (a second of work saved on a large guest).
  if (x.layout() !== null) bytes.fill(0);
  placePages(bytes, present, pageCount, pages);
  for (const [i, v] of saved.entries()) {
    const dr = new StateReader(v, `snapshot.devices[${i}]`);
    const d = m.devices.find((p) => p.id === dr.str('id'));
    if (!d || d.plugin !== dr.str('plugin') || d.base !== dr.int('base'))
      throw dr.fail('id', `(${dr.str('id')}) is not a device of this machine at the same place`);
    await wrap(named(d), () => d.transport.restoreState(asState(dr.raw('state'))));
  }
  await wrap('interrupt controller', () => m.plic.restoreState!(asState(top.raw('plic'))));
  await wrap('timer', () => m.clint.restoreState!(asState(top.raw('clint'))));
  await wrap('console UART', () => m.uart.restoreState(asState(top.raw('uart'))));
  await wrap('clock', () => m.clock.restoreState!(asState(top.raw('clock'))));
  const harts = top.arr('harts');
  if (harts.length !== n) throw top.fail('harts', `has ${harts.length} entries`);
  // Harts on threads take their states when run() has spawned their workers (each worker checks its own).
  if (m.threads) x.setThreadedRestore(harts.map(asState));
  else for (const [h, hart] of m.harts.entries()) x.parts.restoreHart!(hart, asState(harts[h]));
  // After the RAM and the harts (restoreHart empties the code caches): a snapshot without a profile, or a
  // CPU part that takes none, only means the code compiles again as it runs.
  if (x.parts.restoreCode && m.harts.length && top.has('code') && top.raw('code') !== null)
    await wrap("the CPU's code profile", () => x.parts.restoreCode!(m.harts, asState(top.raw('code'))));
  state.forEach((v, h) => (x.state[h] = v));
  waiting.forEach((v, h) => (x.waiting[h] = v as boolean));
  stimecmp.forEach((v, h) => (x.stimecmp[h] = v as number));
  x.consoleIn.splice(0, x.consoleIn.length, ...consoleIn);
  x.setLayout(layout);
  x.markRestored();
}

/** The stored pages (sections of RAM_SECTION_BYTES) back at their places: runs of pages in one copy. */
function placePages(bytes: Uint8Array, present: Uint8Array, pageCount: number, pages: Uint8Array[]): void {
  const perSection = RAM_SECTION_BYTES / PAGE;
  const has = (p: number): boolean => (present[p >> 3] & (1 << (p & 7))) !== 0;
  for (let p = 0, k = 0; p < pageCount;) {
    if (!has(p)) {
      p++;
      continue;
    }
    // A run of present pages that stays within one stored section.
    let n = 1;
    while (p + n < pageCount && has(p + n) && (k + n) % perSection !== 0) n++;
    const at = (k % perSection) * PAGE;
    bytes.set(pages[Math.floor(k / perSection)].subarray(at, at + n * PAGE), p * PAGE);
    p += n;
    k += n;
  }
}

function readLayout(r: StateReader): BootLayout {
  const l: BootLayout = { kernel: r.int('kernel', 0), dtb: r.int('dtb', 0), scratch: r.int('scratch', 0) };
  if (r.has('firmware')) l.firmware = r.int('firmware', 0);
  if (r.has('initrd')) {
    const i = r.sub('initrd');
    l.initrd = { start: i.int('start', 0), end: i.int('end', 0) };
  }
  return l;
}
