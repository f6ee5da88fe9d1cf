import type { RiscvMachine } from '@virtio-desktop/machine';

/**
 * Milestones the desktop image prints on the serial console (guest/desktop/rootfs/usr/local/sbin/vdesk-init
 * and bin/vdesk-session), and what the CLI says when it sees each.
 */
const MILESTONES: ReadonlyArray<readonly [marker: string, what: string]> = [
  ['VDESK-DESKTOP-BOOT', 'kernel up, init started'],
  ['VDESK-X-READY', 'X server accepts clients'],
  ['VDESK-DESKTOP-READY', 'desktop usable (window manager and terminal up)'],
];

/** Longest console line kept while looking for a marker: the guest decides line lengths. */
const MAX_LINE = 512;

/**
 * Follows the guest's boot on the console and reports each milestone with the time since `t0`, ending
 * with the time to a usable desktop. Returns a function that stops watching.
 */
export function watchBootProgress(
  machine: RiscvMachine,
  say: (line: string) => void,
  t0 = performance.now(),
): () => void {
  let line = '';
  let next = 0;
  const onOut = (b: Uint8Array): void => {
    if (next >= MILESTONES.length) return;
    for (const c of b) {
      if (c !== 10) {
        if (line.length < MAX_LINE) line += String.fromCharCode(c);
        continue;
      }
      // Milestones may be skipped (a failed X server never reports ready), never reordered.
      for (let i = next; i < MILESTONES.length; i++) {
        if (!line.includes(MILESTONES[i][0])) continue;
        const s = ((performance.now() - t0) / 1000).toFixed(1);
        say(
          i === MILESTONES.length - 1
            ? `vdesk: [${s.padStart(6)} s] ${MILESTONES[i][1]}: time to a usable desktop ${s} s`
            : `vdesk: [${s.padStart(6)} s] ${MILESTONES[i][1]}`,
        );
        next = i + 1;
        break;
      }
      line = '';
    }
  };
  machine.on('console', onOut);
  return () => machine.off('console', onOut);
}
