/**
 * The "virtio-net" device plugin. Browser-safe: the user-mode network's host side and the pcap writer
 * are loaded with a dynamic import only when asked for, through a specifier bundlers leave alone.
 */
import { PluginOptionError, opt, type DevicePlugin } from '@virtio-desktop/virtio-core';
import { NullBackend, namedPairEnd, type NetBackend } from './backend.js';
import { VirtioNetDevice } from './device.js';
import { parseMac } from './protocol.js';

export interface NetPluginOptions {
  mac: Uint8Array;
  /** "user" (default in Node): user-mode network to the host's loopback; "pair:NAME"; "none". */
  backend: string;
  /** Record every frame to this pcap file (Node). */
  pcap?: string;
}

let nextMac = 0x56;

function parse(raw: unknown): NetPluginOptions {
  const o = opt.object(raw);
  opt.only(o, ['mac', 'backend', 'pcap']);
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
  return { mac, backend, pcap };
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
          ? node!.createUserNet(ctx.log)
          : namedPairEnd(o.backend.slice(5));
    if (o.pcap !== undefined) {
      const file = ctx.baseDir && !o.pcap.startsWith('/') ? `${ctx.baseDir}/${o.pcap}` : o.pcap;
      backend = node!.withPcap(backend, file);
    }
    return new VirtioNetDevice({ mac: o.mac, backend, log: ctx.log });
  },
};
