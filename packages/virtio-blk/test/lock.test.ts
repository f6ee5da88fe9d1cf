import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskInUseError, FileBackend, setLockOwner } from '../src/node.js';

const open: FileBackend[] = [];
afterEach(async () => {
  for (const f of open.splice(0)) await f.close();
});

function image(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'blk-lock-'));
  const f = path.join(dir, 'disk.img');
  writeFileSync(f, new Uint8Array(64 * 1024));
  return f;
}

async function openIt(f: string, o: Parameters<typeof FileBackend.open>[1] = {}): Promise<FileBackend> {
  const b = await FileBackend.open(f, o);
  open.push(b);
  return b;
}

describe('disk image locks', () => {
  it('a second read-write open is refused with a line naming the machine that holds the image', async () => {
    const f = image();
    const a = await openIt(f, { owner: 'alpha' });
    expect(a.locked).toBe(true);
    const err = await FileBackend.open(f, { owner: 'beta' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskInUseError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `disk image .*disk\\.img is in use by machine "alpha" \\(pid ${process.pid}, read-write, since .*\\); stop that machine first`,
      ),
    );
    // Read-only beside a writer is refused too: the writer changes the file system under it.
    await expect(FileBackend.open(f, { readOnly: true })).rejects.toThrow(/in use by machine "alpha"/);
    await a.close();
    open.length = 0;
    // Released at close: the next machine gets it.
    expect((await openIt(f, { owner: 'beta' })).locked).toBe(true);
  });

  it('read-only opens share the image; a writer is refused while they hold it', async () => {
    const f = image();
    await openIt(f, { readOnly: true, owner: 'r1' });
    await openIt(f, { readOnly: true, owner: 'r2' });
    await expect(FileBackend.open(f, { owner: 'w' })).rejects.toThrow(
      /in use by machine "r[12]" .*read-only.*a read-write open needs it alone/,
    );
  });

  it('two names of one file (a symlink) share one lock', async () => {
    const f = image();
    const link = path.join(path.dirname(f), 'link.img');
    symlinkSync(f, link);
    await openIt(f, { owner: 'alpha' });
    await expect(FileBackend.open(link)).rejects.toThrow(/in use by machine "alpha"/);
  });

  it('the lock of a process that died (kill -9: no cleanup) is stale and taken over', async () => {
    const f = image();
    const node = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { FileBackend } from ${JSON.stringify(path.resolve(__dirname, '../src/node.ts'))};
         await FileBackend.open(${JSON.stringify(f)}, { owner: 'crashed' });
         process.kill(process.pid, 'SIGKILL');`,
      ],
      { encoding: 'utf8' },
    );
    expect(node.signal).toBe('SIGKILL');
    const dir = path.join(path.dirname(f), '.disk.img.vdesk-lock');
    expect(readdirSync(dir)).toHaveLength(1); // left behind by the crash
    const b = await openIt(f, { owner: 'next' });
    expect(b.locked).toBe(true);
    expect(readdirSync(dir)).toHaveLength(1); // the stale one removed, ours added
    await b.close();
    open.length = 0;
    expect(existsSync(dir)).toBe(false);
  });

  it('setLockOwner names this process in the refusal; noLock skips locking', async () => {
    const f = image();
    setLockOwner('desk-1');
    await openIt(f);
    await expect(FileBackend.open(f)).rejects.toThrow(/in use by machine "desk-1"/);
    expect((await openIt(f, { noLock: true })).locked).toBe(false);
  });
});
