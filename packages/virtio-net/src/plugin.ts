/**
 * The "virtio-net" device plugin. Browser-safe: the user-mode network's host side and the pcap writer
 * are loaded with a dynamic import only when asked for, through a specifier bundlers leave alone.
 */
import { PluginOptionError, opt, type DevicePlugin } from '@virtio-desktop/virtio-core';
import { NullBackend, namedPairEnd, type NetBackend } from './backend.js';
import { VirtioNetDevice } from './device.js';
import { parseMac } from './protocol.js';
import { parseForward, type PortForward, type UserNetMode } from './usernet/conn.js';

export interface NetPluginOptions {
  mac: Uint8Array;
  /** "user" (default in Node): the user-mode network; "pair:NAME"; "none". */
  backend: string;
  /** The user-mode network's reach: "nat" (default) or "host-only". */
  mode: UserNetMode;
  /** Port forwards into the guest (user-mode network). */
  forward: PortForward[];
  /** Record every frame to this pcap file (Node). */
  pcap?: string;
}

let nextMac = 0x56;

function parse(raw: unknown): NetPluginOptions {
  const o = opt.object(raw);
  opt.only(o, ['mac', 'backend', 'pcap', 'mode', 'forward']);
  let mac: Uint8Array;
  if (o.mac === undefined) {
    // Locally administered (0x52), distinct per device of this host process.
    mac = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, nextMac++ & 0xff]);
  } else {
    const m = parseMac(opt.string(o, 'mac'));
    if (!m)
      throw new PluginOptionError('option "mac" must look like 52:54:00:12:34:56 (and not be multicast)');
    mac = m;
  }
  const backend = o.backend === undefined ? 'user' : opt.string(o, 'backend');
  if (!/^(user|none|pair:[a-z0-9-]{1,32})$/.test(backend))
    throw new PluginOptionError('option "backend" must be "user", "none" or "pair:NAME" (NAME: a-z, 0-9, -)');
  const pcap = o.pcap === undefined ? undefined : opt.string(o, 'pcap');
  if (pcap === '') throw new PluginOptionError('option "pcap" must be a file path');
  const mode = o.mode === undefined ? 'nat' : opt.string(o, 'mode');
  if (mode !== 'nat' && mode !== 'host-only')
    throw new PluginOptionError('option "mode" must be "nat" or "host-only"');
  const forward: PortForward[] = [];
  if (o.forward !== undefined) {
    if (!Array.isArray(o.forward) || o.forward.length > 64)
      throw new PluginOptionError(
        'option "forward" must be a list of at most 64 "tcp:HOSTPORT:GUESTPORT" or "udp:HOSTPORT:GUESTPORT"',
      );
    for (const f of o.forward as unknown[]) {
      const p = typeof f === 'string' ? parseForward(f) : 'each forward is a string';
      if (typeof p === 'string') throw new PluginOptionError(`option "forward": ${p}`);
      if (
        forward.some(
          (g) => g.proto === p.proto && g.hostPort === p.hostPort && (g.bind ?? '') === (p.bind ?? ''),
        )
      )
        throw new PluginOptionError(`option "forward": ${p.proto} host port ${p.hostPort} forwarded twice`);
      forward.push(p);
    }
  }
  return { mac, backend, pcap, mode, forward };
}

const NODE_ENTRY = './node.js';

export const netPlugin: DevicePlugin<NetPluginOptions, VirtioNetDevice> = {
  name: 'virtio-net',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      mac: {
        type: 'string',
        pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$',
        description:
          'MAC address, e.g. "52:54:00:12:34:56" (not multicast); default: a local one per device.',
      },
      backend: {
        type: 'string',
        pattern: '^(user|none|pair:[a-z0-9-]{1,32})$',
        default: 'user',
        description:
          '"user": user-mode network to the host (Node); "pair:NAME": a cable to the other device named NAME; "none".',
      },
      pcap: { type: 'string', minLength: 1, description: 'Record every frame to this pcap file (Node).' },
      mode: {
        enum: ['nat', 'host-only'],
        default: 'nat',
        description:
          'User-mode network: "nat" reaches any address the host can (DNS through the host\'s resolver); "host-only" only the host\'s loopback as 10.0.2.2.',
      },
      forward: {
        type: 'array',
        maxItems: 64,
        items: { type: 'string', pattern: '^(tcp|udp):(\\d{1,3}(\\.\\d{1,3}){3}:)?\\d{1,5}:\\d{1,5}$' },
        description:
          'Port forwards into the guest, e.g. "tcp:8080:80" (host 127.0.0.1:8080 to the guest\'s port 80), "udp:5353:53" (datagrams, each host client answered by the guest) or "tcp:0.0.0.0:8080:80".',
      },
    },
  },
  parseOptions: parse,
  async create(o, ctx) {
    const needsNode = o.backend === 'user' || o.pcap !== undefined;
    const node = needsNode
      ? ((await import(
          /* @vite-ignore */ /* webpackIgnore: true */ NODE_ENTRY
        )) as typeof import('./node.js'))
      : null;
    let backend: NetBackend =
      o.backend === 'none'
        ? new NullBackend()
        : o.backend === 'user'
          ? node!.createUserNet(ctx.log, { mode: o.mode, forwards: o.forward })
          : namedPairEnd(o.backend.slice(5));
    if (o.pcap !== undefined) {
      const file = ctx.baseDir && !o.pcap.startsWith('/') ? `${ctx.baseDir}/${o.pcap}` : o.pcap;
      backend = node!.withPcap(backend, file);
    }
    return new VirtioNetDevice({ mac: o.mac, backend, log: ctx.log });
  },
};
