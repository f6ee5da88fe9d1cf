import type { RiscvMachine } from '@virtio-desktop/machine';

const CTRL_A = 0x01;

/**
 * Connects the guest console to this process's stdout and stdin. On a terminal, stdin is put in raw mode
 * so keys reach the guest unchanged; Ctrl-A X stops the machine and Ctrl-A Ctrl-A sends a literal Ctrl-A.
 * Returns a function that restores the terminal.
 */
export function attachConsole(machine: RiscvMachine): () => void {
  const onOut = (b: Uint8Array): void => void process.stdout.write(b);
  machine.on('console', onOut);
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  let escape = false;
  const onData = (chunk: Buffer): void => {
    if (!tty) {
      machine.consoleInput(new Uint8Array(chunk));
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) {
          machine.stop('Ctrl-A X pressed');
          return;
        }
        if (b === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (b === CTRL_A) escape = true;
      else out.push(b);
    }
    if (out.length) machine.consoleInput(new Uint8Array(out));
  };
  if (tty) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    machine.off('console', onOut);
    stdin.off('data', onData);
    if (tty) stdin.setRawMode(false);
    stdin.pause();
  };
}
