/**
 * The control socket's wire format, in one place: one JSON object per line in each direction.
 * Request {id, cmd, ...args}; reply {id, ok: true, ...result} or {id, ok: false, error}.
 */
import { homedir } from 'node:os';
import path from 'node:path';

/** One request line; a 1,000-frame gesture of 10 fingers is about 400 KB. */
export const MAX_LINE = 1024 * 1024;

/** Buttons `click` takes (own keys only: "__proto__" and friends are not buttons). */
export const BUTTONS = ['left', 'right', 'middle', 'side', 'extra'] as const;

/** A bare npm package name, optionally scoped: no path, no URL, no "..". */
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

export type ControlRequest =
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'screenshot' }
  | { id: number; cmd: 'key'; keys: string[] }
  | { id: number; cmd: 'type'; text: string; intervalMs: number }
  | { id: number; cmd: 'move'; x: number; y: number }
  | { id: number; cmd: 'click'; x: number; y: number; button: string }
  | { id: number; cmd: 'scroll'; dy: number; dx: number }
  | { id: number; cmd: 'touch'; frames: { id: number; x: number; y: number }[][]; intervalMs: number }
  | { id: number; cmd: 'resize'; width: number; height: number }
  | { id: number; cmd: 'shutdown' }
  | { id: number; cmd: 'reboot' }
  | { id: number; cmd: 'unplug'; device: string }
  | { id: number; cmd: 'snapshot'; file: string }
  | {
      id: number;
      cmd: 'hotplug';
      device: { package: string; device?: string; id?: string; options?: Record<string, unknown> };
    };

export type ControlReply =
  { id: number; ok: true; [k: string]: unknown } | { id: number; ok: false; error: string };

/**
 * Where running machines put their sockets: $VDESK_RUNTIME_DIR, else $XDG_RUNTIME_DIR/vdesk (the
 * per-user runtime directory systemd makes, 0700 and cleared at logout), else the cache's run/.
 */
export function runtimeDir(): string {
  const env = process.env;
  if (env.VDESK_RUNTIME_DIR) return env.VDESK_RUNTIME_DIR;
  if (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR))
    return path.join(env.XDG_RUNTIME_DIR, 'vdesk');
  return path.join(env.VDESK_CACHE ?? path.join(homedir(), '.cache', 'virtio-desktop'), 'run');
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const int = (v: unknown, lo: number, hi: number): v is number =>
  Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

/**
 * A client's value for an error message: a string quoted and cut, anything else by its kind. Never
 * JSON.stringify of the value itself: a line of 500,000 "[" overflows its stack (the exception would leave
 * the socket's data handler and end the process).
 */
const shown = (v: unknown): string =>
  typeof v === 'string'
    ? JSON.stringify(v.slice(0, 32))
    : Array.isArray(v)
      ? 'an array'
      : v === null
        ? 'null'
        : typeof v === 'object'
          ? 'an object'
          : String(v);

/** Parse and check one request line; a string is why it was rejected. */
export function parseRequest(line: string): ControlRequest | string {
  if (line.length > MAX_LINE) return 'request too long';
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const o = v as Record<string, unknown>;
  if (!int(o.id, 0, 2 ** 31)) return 'id must be a non-negative integer';
  const id = o.id;
  switch (o.cmd) {
    case 'status':
    case 'screenshot':
    case 'shutdown':
    case 'reboot':
      return { id, cmd: o.cmd };
    case 'key':
      if (
        !Array.isArray(o.keys) ||
        o.keys.length === 0 ||
        o.keys.length > 8 ||
        !o.keys.every((k) => typeof k === 'string' && k.length < 32)
      )
        return 'key needs keys: 1 to 8 key names';
      return { id, cmd: 'key', keys: o.keys as string[] };
    case 'type':
      if (typeof o.text !== 'string' || o.text.length > 4096)
        return 'type needs text (at most 4096 characters)';
      {
        const intervalMs = o.intervalMs === undefined ? 8 : o.intervalMs;
        if (!int(intervalMs, 0, 1000)) return 'type intervalMs must be 0..1000';
        return { id, cmd: 'type', text: o.text, intervalMs };
      }
    case 'move':
      if (!num(o.x) || !num(o.y)) return 'move needs x and y';
      return { id, cmd: 'move', x: o.x, y: o.y };
    case 'click':
      if (!num(o.x) || !num(o.y) || typeof o.button !== 'string') return 'click needs x, y and button';
      if (!(BUTTONS as readonly string[]).includes(o.button))
        return `click: unknown button ${JSON.stringify(o.button.slice(0, 32))} (${BUTTONS.join(', ')})`;
      return { id, cmd: 'click', x: o.x, y: o.y, button: o.button };
    case 'scroll':
      if (!int(o.dy, -100, 100) || !int(o.dx, -100, 100))
        return 'scroll needs integer dy and dx in -100..100';
      return { id, cmd: 'scroll', dy: o.dy, dx: o.dx };
    case 'touch': {
      if (!Array.isArray(o.frames) || o.frames.length === 0 || o.frames.length > 1000)
        return 'touch needs 1 to 1000 frames';
      const frames: { id: number; x: number; y: number }[][] = [];
      for (const f of o.frames as unknown[]) {
        if (!Array.isArray(f) || f.length > 10) return 'each touch frame is a list of at most 10 contacts';
        const contacts: { id: number; x: number; y: number }[] = [];
        for (const c of f as unknown[]) {
          const k = c as Record<string, unknown>;
          if (typeof c !== 'object' || c === null || !int(k.id, 0, 0xffff) || !num(k.x) || !num(k.y))
            return 'each touch contact needs id, x and y';
          contacts.push({ id: k.id, x: k.x, y: k.y });
        }
        frames.push(contacts);
      }
      const intervalMs = o.intervalMs === undefined ? 16 : o.intervalMs;
      if (!int(intervalMs, 0, 1000)) return 'touch intervalMs must be 0..1000';
      return { id, cmd: 'touch', frames, intervalMs };
    }
    case 'resize':
      if (!int(o.width, 1, 16384) || !int(o.height, 1, 16384)) return 'resize needs integer width and height';
      return { id, cmd: 'resize', width: o.width, height: o.height };
    case 'snapshot':
      // The machine writes the file as the user who started it (the socket is theirs alone): an absolute
      // path, since the client's working directory is not the machine's.
      if (
        typeof o.file !== 'string' ||
        !o.file.startsWith('/') ||
        o.file.length > 4096 ||
        o.file.includes('\0')
      )
        return 'snapshot needs file: an absolute path';
      return { id, cmd: 'snapshot', file: o.file };
    case 'unplug':
      if (typeof o.device !== 'string' || !/^[a-z0-9-]{1,64}$/.test(o.device))
        return 'unplug needs the device id (lowercase letters, digits and dashes)';
      return { id, cmd: 'unplug', device: o.device };
    case 'hotplug': {
      const d = o.device as Record<string, unknown> | undefined;
      if (typeof d !== 'object' || d === null || typeof d.package !== 'string')
        return 'hotplug needs device: {package, ...}';
      // Never a path or URL from the socket: a name, resolved from the manifest's directory only.
      if (d.package.length > 214 || !PACKAGE_NAME.test(d.package))
        return 'hotplug takes a package name (e.g. @virtio-desktop/virtio-blk), not a path';
      return { id, cmd: 'hotplug', device: d as { package: string } };
    }
    default:
      return `unknown command ${shown(o.cmd)}`;
  }
}
