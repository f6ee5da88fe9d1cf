/**
 * The manifest names the machine's parts: CPU, interrupt controller and timer are plugins resolved like
 * devices, with the machine's own packages as defaults.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ManifestError, RiscvMap, parseManifest } from '../src/index.js';
import { nodeModuleLoader } from '../src/node.js';
import { RiscvMachine } from '../src/riscv/machine.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** A RISC-V Image header (text_offset 2 MiB) followed by `body` at offset 64. */
function image(body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const img = new Uint8Array(8192);
  const dv = new DataView(img.buffer);
  dv.setUint32(8, 0x200000, true);
  dv.setUint32(16, 0x10000, true);
  img.set(new TextEncoder().encode('RISCV\0\0\0'), 48);
  dv.setUint32(56, 0x05435352, true);
  img.set(body, 64);
  return img;
}

/** A toy-ISA store (see fixtures/tiny-cpu.mjs). */
function store(addr: number, width: number, value: number): number[] {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, 1);
  dv.setUint32(1, addr, true);
  dv.setUint8(5, width);
  dv.setUint32(6, value, true);
  return [...b];
}

const create = (manifest: Record<string, unknown>, kernel = image()) =>
  RiscvMachine.create({
    manifest: parseManifest({ memory: '64M', clock: 'instructions', ...manifest }),
    images: { kernel },
    loadModule: nodeModuleLoader(fixtures, []),
    yieldEveryMs: 2,
  });

describe('parts from the manifest', () => {
  it('boots a bare-metal program on a third-party CPU with a third-party interrupt controller', async () => {
    const uart = RiscvMap.uart.base;
    const program = [
      ...store(uart + 1, 1, 1), // UART IER: interrupt on received data
      ...store(uart, 1, 'h'.charCodeAt(0)),
      ...store(uart, 1, 'i'.charCodeAt(0)),
      0x02, // wait for the external interrupt
      ...store(RiscvMap.test.base, 4, 0x5555), // power off
    ];
    const m = await create(
      {
        cpu: { package: './tiny-cpu.mjs', options: { program: RiscvMap.ram.base + 0x200000 + 64 } },
        irqchip: { package: './tiny-irqchip.mjs' },
      },
      image(Uint8Array.from(program)),
    );
    const out: number[] = [];
    m.on('console', (b) => out.push(...b));
    expect(m.inventory().interruptController).toBe('TinyIrq');
    expect(m.inventory().timer).toBe('RiscvAclintMtimer');
    const exit = m.run();
    // Typing on the console raises the UART's line at the foreign irqchip, which wakes the foreign hart.
    setTimeout(() => m.consoleInput(new Uint8Array([0x0d])), 30);
    expect(await exit).toEqual({ kind: 'poweroff', code: 0 });
    expect(String.fromCharCode(...out)).toBe('hi');
  });

  it("uses the machine's own parts by default and passes the CPU engine to the harts", async () => {
    const jit = await create({});
    expect((jit.harts[0] as unknown as { engine: string }).engine).toBe('jit');
    // The JIT's RAM comes from allocateRam: a WebAssembly.Memory larger than RAM (registers, TLBs...).
    if (typeof WebAssembly !== 'undefined') expect(jit.ram.buffer.byteLength).toBeGreaterThan(jit.ram.size);
    const interp = await create({
      cpu: { package: '@virtio-desktop/cpu-riscv', options: { engine: 'interp' } },
    });
    expect((interp.harts[0] as unknown as { engine: string }).engine).toBe('interp');
    expect(interp.ram.buffer.byteLength).toBe(interp.ram.size);
    expect(interp.inventory().interruptController).toBe('RiscvPlic');
  });

  it('says in one line what is wrong with a part entry', async () => {
    const err = async (manifest: Record<string, unknown>) => {
      const e = await create(manifest).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ManifestError);
      return (e as Error).message;
    };
    expect(await err({ cpu: { package: '@virtio-desktop/cpu-riscv', options: { engine: 'warp' } } })).toBe(
      'cpu (cpu-riscv): option "engine" must be one of reference, interp, jit',
    );
    expect(await err({ irqchip: { package: './echo-plugin.mjs' } })).toBe(
      'irqchip: "./echo-plugin.mjs" exports no riscv-irqchip plugin',
    );
    expect(await err({ timer: { package: 'no-such-timer' } })).toMatch(
      /^timer: cannot load package "no-such-timer": /,
    );
    expect(await err({ cpu: { package: './tiny-cpu.mjs' } })).toBe(
      'cpu (toy-cpu): invalid options: Error: option "program" must be an address',
    );
  });
});
