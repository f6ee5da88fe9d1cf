/**
 * The conformance check (guest/tools/vdesk-conform.c, in the test image as /usr/bin/vdesk-conform) run inside
 * the real guest: on our machine, which must meet everything observable, and on QEMU's riscv64 `virt`
 * machine with QEMU's own virtio devices, which has no virtio-power and so does not conform. Every line the
 * check prints is asserted against a table here, and the lines must be exactly the requirements
 * spec/virtio-desktop.md numbers, in its order.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, root, startVdesk, vdesk, type GuestImages } from './guest.js';

type Status = 'met' | 'not-met' | 'n/a';
interface Line {
  status: Status;
  detail: string;
}
interface Report {
  lines: Map<string, Line>;
  order: string[];
  summary: string;
  exit: number;
}

const SCRIPT = 'vdesk-conform; echo CONFORM-EXIT=$?';

/** The requirement IDs of the spec, in order: the check must print exactly these. */
function specIds(): string[] {
  const text = readFileSync(path.join(root, 'spec/virtio-desktop.md'), 'utf8');
  return [...text.matchAll(/\*\*(V[DG]-\d+)\*\*/g)].map((m) => m[1]);
}

function parse(console: string): Report {
  const lines = new Map<string, Line>();
  const order: string[] = [];
  for (const raw of console.split(/\r?\n/)) {
    const m = /^(V[DG]-\d+) (met|not-met|n\/a) (.*)$/.exec(raw);
    if (!m) continue;
    order.push(m[1]);
    lines.set(m[1], { status: m[2] as Status, detail: m[3] });
  }
  const summary = /^summary: .*$/m.exec(console)?.[0] ?? '';
  const exit = Number(/^CONFORM-EXIT=(\d+)$/m.exec(console)?.[1] ?? -1);
  return { lines, order, summary, exit };
}

/** Expected status of every requirement; IDs not listed are expected to be n/a. */
function expectLines(r: Report, met: string[], notMet: string[], either: string[] = []): void {
  expect(r.order).toEqual(specIds());
  for (const id of specIds()) {
    const got = r.lines.get(id);
    const want: Status = met.includes(id) ? 'met' : notMet.includes(id) ? 'not-met' : 'n/a';
    const line = `${id} ${got?.status} ${got?.detail}`;
    if (either.includes(id)) expect(['met', 'not-met'], line).toContain(got?.status);
    else expect(`${id} ${got?.status}`, line).toBe(`${id} ${want}`);
  }
}

const range = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);

let img: GuestImages;
let dir: string;
beforeAll(() => {
  img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-conform-'));
});

const INPUT = ['keyboard', 'pointer', 'touch'].map((device) => ({
  package: '@virtio-desktop/virtio-input',
  device,
}));

/** The desktop machine: power, display, a disk, and (unless left out) keyboard, pointer and touch screen. */
function manifest(name: string, input = true): string {
  const f = path.join(dir, `${name}.json`);
  writeFileSync(
    f,
    JSON.stringify({
      name,
      memory: '256M',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-fb', options: { width: 1024, height: 768 } },
        { package: '@virtio-desktop/virtio-blk', id: 'disk', options: { size: '8M' } },
        ...(input ? INPUT : []),
      ],
    }),
  );
  return f;
}

const runArgs = (m: string, cmdline: string) => [
  'run',
  m,
  '--kernel',
  img.kernel,
  '--initrd',
  img.initrd,
  '--no-viewer',
  '--append',
  cmdline,
];

/** What our machine meets whatever else is attached (riscv64 parts, devices, transport, map, boot). */
const OURS_MET = [
  ...range('VD', 301, 308),
  ...range('VD', 401, 403),
  ...range('VD', 410, 413),
  ...range('VD', 420, 422),
  'VD-440',
  'VD-441',
  ...range('VD', 501, 504),
  ...range('VD', 601, 603),
  ...range('VD', 701, 704),
  ...range('VG', 901, 904),
  'VG-906',
];

const INPUT_MET = range('VD', 430, 434);

describe('vdesk-conform on our machine', () => {
  it('conforms: every observable requirement is met, including all three input profiles', async () => {
    const r = await vdesk(runArgs(manifest('conform'), `console=ttyS0 ${guestCommand(SCRIPT)}`));
    const rep = parse(r.stdout);
    expectLines(rep, [...OURS_MET, ...INPUT_MET], ['VD-480']);
    expect(rep.lines.get('VD-410')?.detail).toBe('one virtio-power device: virtio0@0x10001000');
    expect(rep.lines.get('VD-601')?.detail).toMatch(
      /^virtio-power virtio0@0x10001000 size 0x1000 source 32,/,
    );
    expect(rep.lines.get('VD-413')?.detail).toMatch(
      /^2 harts, RAM 0x80000000\+0x10000000, riscv-plic, spec 0\.1, 6 entries/,
    );
    expect(rep.lines.get('VD-421')?.detail).toBe('card0-Virtual-1 EDID 1024x768');
    expect(rep.lines.get('VD-433')?.detail).toMatch(/\(10 slots\)$/);
    expect(rep.lines.get('VD-704')?.detail).toMatch(
      /^compatible "virtio-desktop,riscv64", model "virtio-desktop/,
    );
    expect(rep.lines.get('VD-480')?.detail).toBe('(should) no virtio-rtc device (ID 17): no wall clock');
    expect(rep.summary).toMatch(/^summary: 41 met, 1 not-met \(0 mandatory\), 22 n\/a: conforms$/);
    expect(rep.exit).toBe(0);
    expect(r.code).toBe(0);
  });

  it('without input devices and with a hotplugged disk: keyboard and pointer not met, VD-505 met', async () => {
    // Leaving the input devices out shows the check failing a mandatory requirement on our own machine.
    const a = startVdesk(runArgs(manifest('conformhp', false), 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    const h = await vdesk([
      'hotplug',
      '--machine',
      'conformhp',
      '@virtio-desktop/virtio-blk',
      '--options',
      '{"size":"4M"}',
    ]);
    expect(h.stdout).toMatch(/added virtio-blk\d+ at 0x1000[0-9a-f]000 \(irq \d+\)/);
    await new Promise((res) => setTimeout(res, 1500));
    const mark = a.out.text.length;
    a.p.stdin?.write(`${SCRIPT}\n`);
    await a.waitFor(/CONFORM-EXIT=\d+/, mark);
    a.p.stdin?.write('poweroff\n');
    expect(await a.exited).toBe(0);
    const rep = parse(a.out.text.slice(mark));
    expectLines(rep, [...OURS_MET, 'VD-505'], ['VD-430', 'VD-431', 'VD-480']);
    expect(rep.lines.get('VD-430')?.detail).toBe('no virtio input device with the keyboard profile');
    expect(rep.lines.get('VD-505')?.detail).toBe('hotplugged devices sit in free slots of the window');
    expect(rep.lines.get('VD-440')?.detail).toBe('SEG_MAX, BLK_SIZE and FLUSH on every block device');
    expect(rep.lines.get('VD-413')?.detail).toMatch(/4 entries match the devices$/);
    expect(rep.summary).toMatch(/\(2 mandatory: VD-430 VD-431\), \d+ n\/a: does not conform$/);
    expect(rep.exit).toBe(1);
  });
});

/** QEMU's major version: 7.2 (Debian bookworm) is the one the table below was written against. */
function qemuMajor(): number {
  const v = execFileSync('qemu-system-riscv64', ['--version'], { encoding: 'utf8' });
  return Number(/version (\d+)\./.exec(v)?.[1] ?? 0);
}

function runQemu(disk: string): Promise<string> {
  const args = [
    ...['-M', 'virt', '-m', '256', '-smp', '2', '-nographic', '-bios', 'default', '-no-reboot'],
    ...['-kernel', img.kernel, '-initrd', img.initrd],
    ...[
      '-device',
      'virtio-gpu-device',
      '-device',
      'virtio-keyboard-device',
      '-device',
      'virtio-tablet-device',
    ],
    ...['-drive', `file=${disk},if=none,format=raw,id=d0`, '-device', 'virtio-blk-device,drive=d0'],
    // QEMU 7.2 makes virtio-mmio transports legacy (version 1) unless told otherwise (guest/README.md).
    ...['-global', 'virtio-mmio.force-legacy=false'],
    ...['-append', `console=ttyS0 panic=-1 ${guestCommand(SCRIPT)}`],
  ];
  return new Promise((resolve, reject) => {
    execFile('qemu-system-riscv64', args, { timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout) =>
      err
        ? reject(new Error(`qemu-system-riscv64 failed: ${err.message}\n${stdout.slice(-2000)}`))
        : resolve(stdout),
    );
  });
}

describe('vdesk-conform on qemu-system-riscv64 -M virt', () => {
  it("does not conform: no virtio-power, QEMU's own map and identity; its devices meet their profiles", async () => {
    const disk = path.join(dir, 'qemu.img');
    writeFileSync(disk, Buffer.alloc(8 << 20));
    const rep = parse(await runQemu(disk));
    // Newer QEMUs list riscv,isa-extensions, bundle an OpenSBI with DBCN and give the tablet REL_HWHEEL.
    const either = qemuMajor() === 7 ? [] : ['VD-302', 'VD-307', 'VD-432'];
    expectLines(
      rep,
      [
        ...['VD-301', 'VD-303', 'VD-304', 'VD-305', 'VD-306', 'VD-308'],
        ...['VD-401', 'VD-402', 'VD-403', 'VD-420', 'VD-421', 'VD-422', 'VD-430', 'VD-431', 'VD-434'],
        ...['VD-440', 'VD-441', 'VD-501', 'VD-502', 'VD-504', 'VD-603', 'VD-701', 'VD-702', 'VD-703'],
        ...['VG-901', 'VG-902', 'VG-904', 'VG-906'],
      ],
      ['VD-302', 'VD-307', 'VD-410', 'VD-432', 'VD-480', 'VD-503', 'VD-601', 'VD-602', 'VD-704'],
      either,
    );
    expect(rep.lines.get('VD-410')?.detail).toBe('no virtio-power device (ID 58)');
    expect(rep.lines.get('VD-601')?.detail).toBe('no virtio-power device');
    expect(rep.lines.get('VD-602')?.detail).toMatch(/on source [1-8], not 3\d/);
    expect(rep.lines.get('VD-704')?.detail).toMatch(/^compatible "riscv-virtio"/);
    expect(rep.lines.get('VD-430')?.detail).toMatch(/"QEMU Virtio Keyboard"/);
    expect(rep.lines.get('VD-431')?.detail).toMatch(/"QEMU Virtio Tablet" \(0\.\.32767 x 0\.\.32767\)/);
    expect(rep.summary).toMatch(/VD-410 VD-601 VD-704\), \d+ n\/a: does not conform$/);
    expect(rep.exit).toBe(1);
  });
});

interface MachineMap {
  test: { base: number; size: number };
  clint: { base: number; size: number };
  plic: { base: number; size: number };
  uart: { base: number; size: number; irq: number };
  virtio: { base: number; slotSize: number; slots: number; firstIrq: number };
  powerSlot: number;
  ram: { base: number };
  plicSources: number;
  timebaseFrequency: number;
}

describe('spec §6.1 and packages/machine', () => {
  it("the spec's riscv64 table is exactly the map packages/machine implements", async () => {
    const dist = pathToFileURL(path.join(root, 'packages/machine/dist/index.js')).href;
    const m = ((await import(dist)) as { RiscvMap: MachineMap }).RiscvMap;
    const spec = readFileSync(path.join(root, 'spec/virtio-desktop.md'), 'utf8');
    const rows = spec.slice(spec.indexOf('### 6.1'), spec.indexOf('### 6.2')).split('\n');
    const hex = (n: number) => {
      const h = n.toString(16).toUpperCase().padStart(8, '0');
      return `0x${h.slice(0, 4)}_${h.slice(4)}`;
    };
    const row = (base: number, size: number) =>
      rows.find((l) => l.startsWith(`| ${hex(base)}–${hex(base + size - 1)} |`));
    const w = m.virtio;
    expect(row(m.test.base, m.test.size)).toMatch(/SiFive test finisher/);
    expect(row(m.clint.base, m.clint.size)).toMatch(/\| CLINT: /);
    expect(row(m.plic.base, m.plic.size)).toMatch(new RegExp(`\\| PLIC: .*; sources 1–${m.plicSources} \\|`));
    expect(row(m.uart.base, m.uart.size)).toMatch(new RegExp(`UART .*\\| ${m.uart.irq} \\|$`));
    expect(row(w.base + m.powerSlot * w.slotSize, w.slotSize)).toMatch(
      new RegExp(`slot ${m.powerSlot}: virtio-power .*\\| ${w.firstIrq + m.powerSlot} \\|$`),
    );
    expect(row(w.base + w.slotSize, (w.slots - 1) * w.slotSize)).toMatch(
      new RegExp(
        `slots 1–${w.slots - 1}: slot i at ${hex(w.base)} \\+ 0x${w.slotSize.toString(16)}·i \\| ${w.firstIrq} \\+ i \\|$`,
      ),
    );
    expect(rows.find((l) => l.startsWith(`| ${hex(m.ram.base)}– |`))).toMatch(/\| RAM /);
    expect(spec).toMatch(new RegExp(`riscv64 slot 0,\\s+${hex(w.base)}, source ${w.firstIrq};`));
    expect(spec).toContain(`The timebase SHOULD be ${m.timebaseFrequency / 1e6} MHz`);
  });
});
