/**
 * Advisory locks on disk image files, so two machines never write one image at once (each would see a
 * file system the other keeps changing under it: silent corruption). Read-write opens are exclusive,
 * read-only ones (readOnly, overlay) shared.
 *
 * Node has no flock/fcntl, and the npm modules that add it (fs-ext) need a native build. So a lock is a
 * directory next to the image, `.NAME.vdesk-lock/`, holding one small JSON file per open image: owner
 * name, pid, the process's start time, host, mode. Taking a lock writes our entry first and then reads
 * everyone's: two machines racing both see each other and both refuse, never both win. An entry whose
 * process is gone (pid not alive, or alive but started at another time: a reused pid) is stale and
 * removed, so a crash never leaves an image locked. Entries from another host (a shared file system)
 * cannot be checked and count as live.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

export interface LockEntry {
  owner: string;
  pid: number;
  start: string;
  host: string;
  mode: 'read-write' | 'read-only';
  since: string;
}

/** Thrown when another live machine holds a conflicting lock. */
export class DiskInUseError extends Error {
  override readonly name = 'DiskInUseError';
  constructor(
    message: string,
    readonly holder: LockEntry,
  ) {
    super(message);
  }
}

/** The name the CLI (or any host) gives the running machine, shown to whoever is refused. */
const OWNER_KEY = Symbol.for('@virtio-desktop/machine-name');

/** Name this process's machine in lock entries (vdesk run calls it with the manifest's name). */
export function setLockOwner(name: string): void {
  (globalThis as Record<symbol, unknown>)[OWNER_KEY] = name;
}

function defaultOwner(): string {
  const n = (globalThis as Record<symbol, unknown>)[OWNER_KEY];
  return typeof n === 'string' ? n : `pid ${process.pid}`;
}

/** A process's start time from /proc (Linux), to tell a live owner from a reused pid; '' elsewhere. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function alive(e: LockEntry): boolean {
  if (e.host !== hostname()) return true;
  try {
    process.kill(e.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(e.pid);
  return !e.start || !now || now === e.start;
}

/** The image's directory does not let us write: the image cannot be locked (and is not). */
function unlockable(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EROFS' || code === 'EPERM';
}

const held = new Set<string>();
let exitHook = false;

/** A lock held on one image; release() removes it (also done at process exit). */
export class ImageLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly file: string,
  ) {}

  /**
   * Lock `image` for read-write (exclusive) or read-only (shared) use. Returns null when the lock
   * directory cannot be created (the image's directory is not writable): such an image is not locked.
   */
  static acquire(image: string, readOnly: boolean, owner = defaultOwner()): ImageLock | null {
    const dir = path.join(path.dirname(image), `.${path.basename(image)}.vdesk-lock`);
    const me: LockEntry = {
      owner,
      pid: process.pid,
      start: startTime(process.pid),
      host: hostname(),
      mode: readOnly ? 'read-only' : 'read-write',
      since: new Date().toISOString(),
    };
    const name = `${process.pid}-${randomBytes(6).toString('hex')}.json`;
    const file = path.join(dir, name);
    // The directory may vanish between mkdir and the write (its last holder removing it): try again.
    for (let attempt = 0; ; attempt++) {
      try {
        mkdirSync(dir, { mode: 0o755 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' && unlockable(e)) return null;
      }
      try {
        writeFileSync(file, JSON.stringify(me), { flag: 'wx', mode: 0o644 });
        break;
      } catch (e) {
        if (unlockable(e)) return null;
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5)
          throw new Error(
            `cannot lock disk image ${image}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
          );
      }
    }
    const lock = new ImageLock(dir, file);
    const conflict = lock.others().find((o) => !readOnly || o.mode === 'read-write');
    if (conflict) {
      lock.release();
      const since = conflict.since.replace('T', ' ').slice(0, 19);
      const where =
        conflict.host === me.host ? `pid ${conflict.pid}` : `pid ${conflict.pid} on ${conflict.host}`;
      throw new DiskInUseError(
        `disk image ${image} is in use by machine "${conflict.owner}" (${where}, ${conflict.mode}, since ` +
          `${since} UTC)` +
          (conflict.mode === 'read-only'
            ? '; a read-write open needs it alone: stop that machine or open this one read-only ("readOnly" or "overlay")'
            : '; stop that machine first'),
        conflict,
      );
    }
    held.add(file);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const f of held) {
          try {
            unlinkSync(f);
          } catch {
            // already gone
          }
        }
      });
    }
    return lock;
  }

  /** Live entries other than ours; stale ones are removed on the way. */
  private others(): LockEntry[] {
    const out: LockEntry[] = [];
    for (const n of readdirSync(this.dir)) {
      const f = path.join(this.dir, n);
      if (f === this.file || !n.endsWith('.json')) continue;
      let e: LockEntry;
      try {
        e = JSON.parse(readFileSync(f, 'utf8')) as LockEntry;
      } catch {
        // Being written right now (or garbage): a writer that is mid-way will see us and refuse itself.
        continue;
      }
      if (typeof e.pid !== 'number' || alive(e)) out.push(e);
      else {
        try {
          unlinkSync(f);
        } catch {
          // another machine cleaned it first
        }
      }
    }
    return out;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.file);
    try {
      unlinkSync(this.file);
    } catch {
      // already gone
    }
    try {
      rmdirSync(this.dir); // only when empty: others may still hold it
    } catch {
      // not empty, or gone
    }
  }
}
