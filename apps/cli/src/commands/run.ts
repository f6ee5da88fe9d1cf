import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CPU_PACKAGE,
  ManifestError,
  RiscvMachine,
  CPU_ENGINES,
  parseManifest,
  type Manifest,
  type OpenedSnapshot,
} from '@virtio-desktop/machine';
import { SizeError, SnapshotError, parseSize } from '@virtio-desktop/virtio-core';
import {
  loadManifestFile,
  nodeModuleLoader,
  nodeSnapshotCodec,
  readSnapshotFile,
} from '@virtio-desktop/machine/node';
import { CliError, argsError } from '../errors.js';
import { setLockOwner } from '@virtio-desktop/virtio-blk/node';
import { codeCacheFile, loadCodeProfile, saveCodeProfile } from '../code-cache.js';
import { parseForward } from '@virtio-desktop/virtio-net';
import { cliInstallDir, cliSearchDirs } from '../paths.js';
import { defaultImages, desktopImage, type DesktopImage } from '../images.js';
import { attachConsole } from '../console.js';
import { watchBootProgress } from '../progress.js';
import { makeLogger } from '../log.js';
import { Session } from '../session.js';

export const runHelp = `Usage: vdesk run [manifest.json] [options]

Boots a machine. Without a manifest, --kernel, --initrd, --append or --shell: the desktop (Xorg, JWM,
a terminal, Xfe, Dillo on a virtio-blk root disk in copy-on-write mode), building its image with
guest/desktop/build.sh first if it is not cached yet; the boot's milestones and the time to a usable
desktop are printed.
Without a manifest otherwise: the default machine with the test guest image (busybox shell; built with
guest/build.sh and cached under ~/.cache/virtio-desktop).

Options (override the manifest):
  --shell              the default machine with the test image (busybox shell), not the desktop
  --kernel PATH        RISC-V Linux Image
  --initrd PATH        initramfs (cpio, optionally gzip)
  --append TEXT        kernel command line
  --memory SIZE        RAM, e.g. 512M or 1.5G (K, M, G: powers of 1024; a bare number is bytes)
  --cpus N             number of harts (1-8)
  --firmware sbi|PATH  "sbi": SBI in the host (default); or an M-mode firmware (OpenSBI fw_dynamic.bin)
  --clock wall|instructions
                       instructions: time derived from retired instructions, for repeatable runs
  --threads            each hart on its own worker thread over shared RAM (wall clock only)
  --name NAME          machine name (control socket, inventory); default from the manifest
  --no-viewer          do not serve the viewer page
  --viewer-host ADDR   address the viewer listens on (default 127.0.0.1: this computer only); any
                       other address needs --viewer-expose (better: an SSH tunnel, ssh -L PORT:127.0.0.1:PORT)
  --viewer-expose      allow --viewer-host beyond this computer (warns; add --viewer-cert/--viewer-key
                       so the token does not travel in plain HTTP)
  --viewer-cert PATH   serve the viewer over HTTPS with this PEM certificate (with --viewer-key PATH)
  --viewer-port N      port of the viewer (default: any free port)
  --shutdown-timeout S seconds SIGTERM / vdesk shutdown waits for the guest before a hard stop (default 30)
  --cpu jit|interp|reference
                       the CPU engine: jit (default; hot guest code compiled to WebAssembly), interp
                       (the decoded-instruction interpreter) or reference (every instruction through
                       the reference executor; slowest, for debugging the CPU); overrides the
                       manifest's cpu.options.engine
  --net nat|host-only|none
                       the network (virtio-net, user-mode stack): nat (default, like QEMU's slirp: TCP
                       and UDP to anything this computer reaches, DNS through its resolver), host-only
                       (only this computer's 127.0.0.1, as 10.0.2.2) or none (no network device)
  --forward tcp:HOSTPORT:GUESTPORT, --forward udp:HOSTPORT:GUESTPORT
                       connections (datagrams) to 127.0.0.1:HOSTPORT reach the guest's GUESTPORT
                       (repeatable; tcp:ADDR:HOSTPORT:GUESTPORT listens on ADDR instead)
  --restore FILE       continue the machine saved in FILE (vdesk snapshot) instead of booting; the
                       machine comes from the snapshot (a manifest or machine flags given too must
                       describe the same machine; --name may differ)
  --code-cache         (experimental) give the CPU the code profile the last --code-cache run of the
                       same kernel and initrd saved (~/.cache/virtio-desktop/jit), and save this run's:
                       the JIT compiles that code on arrival instead of after 8,192 (see apps/cli README)
  --log-level LEVEL    error, warn, info or debug (default warn), on stderr
  -h, --help           this text

Without a manifest the default desktop machine is used: virtio-power, virtio-fb, the input devices,
virtio-console's clipboard port (the viewer page's clipboard and the guest's, both ways) and
virtio-net (guest: eth0, DHCP from 10.0.2.2 leases 10.0.2.15/24, DNS 10.0.2.3).
SIGTERM (or vdesk shutdown) asks the guest to shut down through virtio-power; a second SIGTERM, or the
timeout, stops it at once.

The serial console is on stdout and stdin (raw mode on a terminal; Ctrl-A X quits).
Exit status: the guest's power-off code (0 for a normal power-off), 1 when stopped by the host.`;

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        shell: { type: 'boolean' },
        cpu: { type: 'string' },
        kernel: { type: 'string' },
        initrd: { type: 'string' },
        append: { type: 'string' },
        memory: { type: 'string' },
        cpus: { type: 'string' },
        firmware: { type: 'string' },
        clock: { type: 'string' },
        threads: { type: 'boolean' },
        'log-level': { type: 'string' },
        name: { type: 'string' },
        'no-viewer': { type: 'boolean' },
        'viewer-host': { type: 'string' },
        'viewer-port': { type: 'string' },
        'viewer-expose': { type: 'boolean' },
        'viewer-cert': { type: 'string' },
        'viewer-key': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        net: { type: 'string' },
        forward: { type: 'string', multiple: true },
        restore: { type: 'string' },
        'code-cache': { type: 'boolean' },
      },
    });
  } catch (e) {
    throw argsError(e, 'run');
  }
  const { values: v, positionals } = parsed;
  if (positionals.length > 1) throw new CliError('run takes at most one manifest file', 2);
  const log = makeLogger(v['log-level'] ?? 'warn');

  const file = positionals[0];
  const say = (l: string): void => void process.stderr.write(l + '\n');
  // --restore: the snapshot is checked (magic, version, length, checksum) before anything else happens.
  const snap = v.restore === undefined ? null : await readSnapshot(v.restore);
  // Without a manifest or a flag that shapes the machine, a restore takes the snapshot's own manifest.
  const fromSnapshot = snap !== null && !file && !MACHINE_FLAGS.some((k) => v[k] !== undefined);
  // Nothing that names a guest: the desktop (resolved after every flag is checked, since it may build).
  const wantDesktop =
    !snap && !file && !v.shell && v.kernel === undefined && v.initrd === undefined && v.append === undefined;
  const base: Manifest = file
    ? await loadManifestFile(file)
    : fromSnapshot
      ? parseManifest(snap.header.manifest, `${v.restore} (its manifest)`)
      : parseManifest(DEFAULT_MANIFEST, 'default manifest');
  const baseDir = file
    ? path.dirname(path.resolve(file))
    : fromSnapshot && snap.header.baseDir
      ? snap.header.baseDir
      : process.cwd();
  const raw = { ...base, boot: { ...base.boot } } as Record<string, unknown> & {
    boot: Record<string, unknown>;
  };
  if (v.memory !== undefined) {
    try {
      parseSize(v.memory);
    } catch (e) {
      if (e instanceof SizeError) throw new CliError(`--memory: ${e.message}`, 2);
      throw e;
    }
    raw.memory = v.memory;
  }
  if (v.cpu !== undefined) {
    if (!(CPU_ENGINES as readonly string[]).includes(v.cpu))
      throw new CliError(`--cpu: use ${CPU_ENGINES.join(', ')}, not "${v.cpu}"`, 2);
    // --cpu is the engine option of the manifest's CPU part (ours unless the manifest names another).
    raw.cpu = {
      package: base.cpu?.package ?? CPU_PACKAGE,
      options: { ...(base.cpu?.options ?? {}), engine: v.cpu },
    };
  }
  if (v.cpus !== undefined) {
    if (!/^\d+$/.test(v.cpus)) throw new CliError(`--cpus: not a number: "${v.cpus}"`, 2);
    raw.cpus = Number(v.cpus);
  }
  if (v.clock !== undefined) raw.clock = v.clock;
  if (v.threads) raw.threads = true;
  if (v.name !== undefined) raw.name = v.name;
  const port = v['viewer-port'] === undefined ? 0 : Number(v['viewer-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError('--viewer-port: not a port number', 2);
  const timeoutS = v['shutdown-timeout'] === undefined ? 30 : Number(v['shutdown-timeout']);
  if (!(timeoutS >= 0 && timeoutS <= 3600))
    throw new CliError('--shutdown-timeout: seconds from 0 to 3600', 2);
  const viewerHost = v['viewer-host'] ?? '127.0.0.1';
  const tls = await viewerTls(v['viewer-cert'], v['viewer-key']);
  checkExposure(viewerHost, v['viewer-expose'] === true, tls !== undefined, say);
  if (v.append !== undefined) raw.boot.cmdline = v.append;
  if (v.firmware !== undefined) raw.boot.firmware = v.firmware;
  const net = netFlags(v.net, v.forward);
  if (net) raw.devices = withNet(raw.devices, net);
  if (v.kernel !== undefined) raw.boot.kernel = path.resolve(v.kernel);
  if (v.initrd !== undefined) raw.boot.initrd = path.resolve(v.initrd);
  let manifest: Manifest;
  try {
    manifest = parseManifest(raw, 'command line');
  } catch (e) {
    throw new CliError((e as ManifestError).message.replace(/^command line: /, '--'), 2);
  }
  // Every flag is valid: only now find (or build, which takes minutes) the desktop image.
  const desktop = wantDesktop ? await desktopImage(say) : null;
  if (desktop) {
    say(`vdesk: booting the desktop image ${desktop.image}`);
    const d = desktopManifest(desktop);
    raw.devices = net ? withNet(d.devices, net) : d.devices;
    raw.boot = { ...raw.boot, ...d.boot };
    if (v.memory === undefined) raw.memory = d.memory;
    manifest = parseManifest(raw, 'desktop manifest');
  }

  // The snapshot's sections inflate on the thread pool from now on, while the machine is built.
  let opened: OpenedSnapshot | undefined;
  try {
    opened = snap?.open(manifest.memory);
  } catch (e) {
    throw new CliError(`--restore ${v.restore}: ${(e as Error).message}`);
  }
  const images = await loadImages(manifest, baseDir);
  // Named in the lock of each disk image, so a second machine on the same image is told which one has it.
  setLockOwner(manifest.name);
  const cpuPackage = manifest.cpu?.package ?? CPU_PACKAGE;
  log.info(
    cpuPackage === CPU_PACKAGE
      ? `cpu: ${String(manifest.cpu?.options?.engine ?? 'jit')} engine`
      : `cpu: ${cpuPackage}`,
  );
  // The CPU, interrupt controller and timer come from the manifest (defaults: our packages).
  const machine = await RiscvMachine.create({
    manifest,
    images,
    loadModule: nodeModuleLoader(baseDir, cliSearchDirs()),
    log,
    baseDir,
  });
  const session = new Session(machine, {
    name: manifest.name,
    viewer: !v['no-viewer'],
    host: viewerHost,
    port,
    shutdownTimeoutMs: timeoutS * 1000,
    log,
    say,
    hotplugDirs: [baseDir, cliInstallDir()],
    ...(tls ? { tls } : {}),
  });
  if (snap) {
    // After the session exists, so its display source hears the restored screen; before the session
    // starts, so no control request or viewer input reaches a device that the restore then overwrites
    // (keys typed at once after `vdesk run --restore` were lost that way).
    const t0 = performance.now();
    try {
      await machine.restore(opened ?? snap.bytes, { codec: nodeSnapshotCodec() });
    } catch (e) {
      await session.close();
      throw new CliError(`--restore ${v.restore}: ${(e as Error).message}`);
    }
    say(
      `vdesk: restored ${v.restore} (taken ${snap.header.created}) in ${Math.round(performance.now() - t0)} ms`,
    );
  }
  const codeFile = v['code-cache'] ? codeCacheFile(images.kernel, images.initrd) : null;
  if (codeFile && !snap) {
    const profile = await loadCodeProfile(codeFile);
    try {
      if (profile) {
        machine.warmCode(profile);
        log.info(
          `code cache: ${codeFile} (${profile.data instanceof Uint8Array ? profile.data.length : 0} bytes)`,
        );
      }
    } catch (e) {
      log.warn(`code cache ${codeFile}: not used (${(e as Error).message})`);
    }
  }
  try {
    await session.start();
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let signals = 0;
  const onSignal = (sig: string): void => {
    if (++signals > 1) machine.stop(`second ${sig}`);
    else process.stderr.write(`\nvdesk: ${sig}: ${session.requestShutdown('shutdown', sig)}\n`);
  };
  const onTerm = (): void => onSignal('SIGTERM');
  const onInt = (): void => onSignal('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const detach = attachConsole(machine);
  // Only the desktop image prints the milestones; other guests never trigger it.
  const unwatch = watchBootProgress(machine, say);
  try {
    let exit: Awaited<ReturnType<typeof machine.run>>;
    try {
      exit = await machine.run();
    } catch (e) {
      // Harts on threads take their saved states once their workers run, so a bad one shows up here.
      if (snap && e instanceof SnapshotError) throw new CliError(`--restore ${v.restore}: ${e.message}`);
      throw e;
    }
    const profile = codeFile ? machine.codeProfile() : null;
    if (codeFile && profile) {
      if (await saveCodeProfile(codeFile, profile)) log.info(`code cache: saved ${codeFile}`);
      else log.warn(`code cache ${codeFile}: could not be written`);
    }
    if (exit.kind === 'poweroff') return exit.code;
    process.stderr.write(`\nvdesk: machine stopped: ${exit.reason}\n`);
    return 1;
  } finally {
    detach();
    unwatch();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    await session.close();
  }
}

const NET_PACKAGE = '@virtio-desktop/virtio-net';

/** Flags that change the machine's manifest (with --restore, they must describe the snapshot's machine). */
const MACHINE_FLAGS = [
  'shell',
  'cpu',
  'kernel',
  'initrd',
  'append',
  'memory',
  'cpus',
  'firmware',
  'clock',
  'threads',
  'net',
  'forward',
] as const;

async function readSnapshot(file: string) {
  try {
    return await readSnapshotFile(file);
  } catch (e) {
    throw new CliError(`--restore ${file}: ${(e as Error).message}`);
  }
}

/** The default machine: the desktop's devices. */
const DEFAULT_MANIFEST = {
  name: 'virtio-desktop',
  memory: '512M',
  cpus: 2,
  devices: [
    { package: '@virtio-desktop/virtio-power' },
    { package: '@virtio-desktop/virtio-fb' },
    { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
    { package: '@virtio-desktop/virtio-input', device: 'pointer' },
    { package: '@virtio-desktop/virtio-input', device: 'touch' },
    // The clipboard between the viewer's page and the guest, through the desktop's agent.
    { package: '@virtio-desktop/virtio-console' },
    // NAT by default: the desktop's browser and package tools need the network, as in QEMU's default.
    { package: NET_PACKAGE, options: { mode: 'nat' } },
  ],
};

type NetFlags = { mode: 'nat' | 'host-only' | 'none'; forward: string[] };

/** --net and --forward, checked; null when neither is given (the manifest decides). */
function netFlags(net: string | undefined, forward: string[] | undefined): NetFlags | null {
  if (net === undefined && forward === undefined) return null;
  const mode = net ?? 'nat';
  if (mode !== 'nat' && mode !== 'host-only' && mode !== 'none')
    throw new CliError(`--net: use nat, host-only or none, not "${mode}"`, 2);
  if (mode === 'none' && forward?.length) throw new CliError('--forward needs a network (not --net none)', 2);
  for (const f of forward ?? []) {
    const p = parseForward(f);
    if (typeof p === 'string') throw new CliError(`--forward: ${p}`, 2);
  }
  return { mode, forward: forward ?? [] };
}

/**
 * The device list with the network of --net/--forward: none removes every virtio-net device; otherwise
 * the user-mode ones (or a new one) get the mode and the forwards (on the first).
 */
function withNet(devices: unknown, f: NetFlags): unknown[] {
  type Dev = { package?: string; options?: Record<string, unknown> };
  const list = (Array.isArray(devices) ? devices : []) as Dev[];
  if (f.mode === 'none') return list.filter((d) => d.package !== NET_PACKAGE);
  const isUser = (d: Dev) =>
    d.package === NET_PACKAGE && (d.options?.backend === undefined || d.options.backend === 'user');
  const out = list.some(isUser) ? [...list] : [...list, { package: NET_PACKAGE }];
  let first = true;
  return out.map((d) => {
    if (!isUser(d)) return d;
    const options: Record<string, unknown> = { ...d.options, mode: f.mode };
    if (first && f.forward.length) options.forward = f.forward;
    first = false;
    return { ...d, options };
  });
}

/** The default machine with the desktop image's disk (copy-on-write: the built image stays pristine). */
function desktopManifest(d: DesktopImage) {
  return {
    ...DEFAULT_MANIFEST,
    memory: '1G',
    devices: [
      ...DEFAULT_MANIFEST.devices,
      { package: '@virtio-desktop/virtio-blk', options: { image: d.image, overlay: true } },
    ],
    boot: { kernel: d.kernel, cmdline: d.append },
  };
}

async function readImage(file: string, what: string, baseDir: string): Promise<Uint8Array> {
  const p = path.resolve(baseDir, file);
  try {
    return new Uint8Array(await readFile(p));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CliError(`${what} ${p}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

async function loadImages(m: Manifest, baseDir: string) {
  let kernelPath = m.boot.kernel;
  let initrdPath = m.boot.initrd;
  if (!kernelPath) {
    const d = await defaultImages();
    kernelPath = d.kernel;
    initrdPath ??= d.initrd;
  }
  const kernel = await readImage(kernelPath, 'kernel', baseDir);
  const initrd = initrdPath ? await readImage(initrdPath, 'initrd', baseDir) : undefined;
  const firmware =
    m.boot.firmware === 'sbi' ? undefined : await readImage(m.boot.firmware, 'firmware', baseDir);
  return { kernel, initrd, firmware };
}

const LOOPBACK_HOST = /^(127(\.\d{1,3}){3}|::1|\[::1\]|localhost)$/i;

/**
 * The viewer beyond loopback is a remote control of the machine guarded by a token in a URL: only with
 * an explicit flag, with a warning, and over HTTPS unless the user takes that risk knowingly.
 */
function checkExposure(host: string, exposed: boolean, tls: boolean, say: (l: string) => void): void {
  if (LOOPBACK_HOST.test(host)) return;
  if (!exposed)
    throw new CliError(
      `--viewer-host ${host} lets other computers reach the viewer; add --viewer-expose to mean it ` +
        `(safer: keep 127.0.0.1 and use an SSH tunnel, ssh -L PORT:127.0.0.1:PORT this-host)`,
      2,
    );
  say(
    tls
      ? `vdesk: warning: the viewer listens on ${host}: anyone with the URL (its token) controls the machine`
      : `vdesk: warning: the viewer listens on ${host} over plain HTTP: the token in its URL can be read on ` +
          `the network; use --viewer-cert/--viewer-key, or an SSH tunnel to 127.0.0.1`,
  );
}

async function viewerTls(
  cert: string | undefined,
  key: string | undefined,
): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined)
    throw new CliError('--viewer-cert and --viewer-key go together', 2);
  const read = async (f: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(f);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new CliError(`${what} ${f}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`);
    }
  };
  return { cert: await read(cert, '--viewer-cert'), key: await read(key, '--viewer-key') };
}
