import path from 'node:path';
import { ManifestError, VirtioSlots, SystemBus, resolvePart } from '@virtio-desktop/machine';
import { loadManifestFile, nodeModuleLoader } from '@virtio-desktop/machine/node';
import { Ram, silentLogger } from '@virtio-desktop/virtio-core';
import { CliError } from '../errors.js';
import { cliSearchDirs } from '../paths.js';

export const validateHelp = `Usage: vdesk validate <manifest.json>

Checks the manifest against the schema, loads every CPU, interrupt-controller, timer and device package
it names and validates their options, without booting anything.`;

/**
 * Validation goes as far as creating each device (in a scratch memory), so a package that fails to load or
 * rejects its options is reported here and not at boot.
 */
export async function validate(args: string[], out: (s: string) => void): Promise<void> {
  const option = args.find((a) => a.startsWith('-'));
  if (option !== undefined)
    throw new CliError(`validate: unknown option ${option} (see vdesk validate --help)`, 2);
  if (args.length !== 1)
    throw new CliError('validate takes exactly one manifest file (see vdesk validate --help)', 2);
  const file = args[0];
  const manifest = await loadManifestFile(file);
  const baseDir = path.dirname(path.resolve(file));
  const slots = new VirtioSlots({
    memory: new Ram(0x8000_0000, 1 << 20),
    bus: new SystemBus(),
    irqs: { phandle: 0, line: () => ({ set() {} }) },
    log: silentLogger,
    loadModule: nodeModuleLoader(baseDir, cliSearchDirs()),
    baseDir,
  });
  const load = nodeModuleLoader(baseDir, cliSearchDirs());
  try {
    await resolvePart('riscv-cpu', manifest.cpu, `${file}: cpu`, load);
    await resolvePart('riscv-irqchip', manifest.irqchip, `${file}: irqchip`, load);
    await resolvePart('riscv-timer', manifest.timer, `${file}: timer`, load);
    for (const [i, d] of manifest.devices.entries()) await slots.add(d, `${file}: devices[${i}]`);
  } catch (e) {
    if (e instanceof ManifestError) throw new CliError(e.message);
    throw e;
  }
  out(
    `${file}: ok (${manifest.cpus} CPU${manifest.cpus > 1 ? 's' : ''}, ${manifest.memory / 1024 ** 2} MiB, ${manifest.devices.length} device${manifest.devices.length === 1 ? '' : 's'})`,
  );
}
