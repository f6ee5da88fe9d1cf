#!/usr/bin/env node
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The command is done: anything still holding the event loop (a client that never closes, a timer
    // of a device) must not keep the process, and a powered-off machine's image, alive. Unref'd: a clean
    // exit does not wait for it; the delay lets stdout drain.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`vdesk: internal error: ${String(e)}\n`);
    process.exitCode = 70;
  },
);
