/**
 * The machine's Node entry for a hart worker: it lowers this thread's scheduling priority, then runs the
 * CPU's own worker entry. When the harts keep every host core busy, the thread with the devices, the
 * viewer and the input (the main thread, at normal priority) then gets a core as soon as it wakes: an
 * input event no longer waits behind a hart's time slice (issue 17: p99 < 5 ms while the guest is busy).
 * VDESK_HART_NICE sets the niceness added (default 5; 0 leaves the harts as they are). Linux only: the
 * thread's id comes from /proc/thread-self, and elsewhere the harts keep their priority.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { threads } from '@virtio-desktop/cpu-riscv';

const env = process.env.VDESK_HART_NICE;
const asked = env === undefined || env === '' ? 5 : Number(env);
const nice = Number.isInteger(asked) ? Math.min(19, Math.max(0, asked)) : 5;
if (nice > 0) {
  try {
    // On Linux, setpriority() of a thread id changes that thread only.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + nice));
  } catch {
    // Not Linux, or not allowed: the hart runs at the process's priority.
  }
}
await import(threads.HART_WORKER_NODE_URL.href);
