/**
 * Issue 16, item 4: two machines on one disk image. The second read-write machine is refused with a line
 * naming the first (before, both "wrote and synced" and 340 of 600 files survived); read-only machines
 * share the image; the lock goes with the machine, also when it is killed.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, idleSetup, startIdle, type IdleMachine } from './idle-machine.js';

const running: IdleMachine[] = [];
afterAll(async () => {
  for (const m of running) {
    if (m.p.exitCode === null) m.p.kill('SIGKILL');
    await m.exited;
  }
});

function machine(name: string, image: string, opts: Record<string, unknown> = {}) {
  const s = idleSetup(name, [
    { package: '@virtio-desktop/virtio-power' },
    { package: '@virtio-desktop/virtio-blk', options: { image, ...opts } },
  ]);
  return { ...s, env: { VDESK_RUNTIME_DIR: path.join(s.dir, 'run') } };
}

async function start(name: string, image: string, opts: Record<string, unknown> = {}) {
  const s = machine(name, image, opts);
  const m = await startIdle(s.manifest, s.env, ['--no-viewer'], false);
  running.push(m);
  return { ...m, env: s.env };
}

function runOnce(name: string, image: string, opts: Record<string, unknown> = {}) {
  const s = machine(name, image, opts);
  return cli(['run', s.manifest, '--no-viewer'], s.env, 60_000);
}

describe('two machines on one image', () => {
  const dir = idleSetup('img', []).dir;
  const image = path.join(dir, 'shared.img');
  writeFileSync(image, new Uint8Array(1 << 20));

  it('a second read-write machine is refused, naming the first; read-only ones are refused beside it', async () => {
    const a = await start('alpha', image);
    const r = await runOnce('beta', image);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `shared\\.img is in use by machine "alpha" \\(pid ${a.p.pid}, read-write, since .*\\); stop that machine first`,
      ),
    );
    const ro = await runOnce('gamma', image, { readOnly: true });
    expect(ro.err).toMatch(/in use by machine "alpha"/);
    await cli(['shutdown'], a.env);
    await a.exited;
  });

  it('read-only machines (readOnly, overlay) share the image; a writer is refused while they run', async () => {
    const r1 = await start('reader-1', image, { readOnly: true });
    const r2 = await start('reader-2', image, { overlay: true });
    const w = await runOnce('writer', image);
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/in use by machine "reader-[12]" .*read-only.*; a read-write open needs it alone/);
    for (const m of [r1, r2]) {
      await cli(['shutdown'], m.env);
      await m.exited;
    }
  });

  it('a machine killed with SIGKILL leaves no lock that stops the next one', async () => {
    const a = await start('killed', image);
    a.p.kill('SIGKILL');
    await a.exited;
    const b = await start('next', image);
    expect(b.p.exitCode).toBeNull();
    await cli(['shutdown'], b.env);
    await b.exited;
  });
});
