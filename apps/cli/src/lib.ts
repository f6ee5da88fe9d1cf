/**
 * The library entry of @virtio-desktop/cli: importing it runs nothing. `main(argv)` is what the `vdesk`
 * binary (src/index.ts, kept at dist/index.js where scripts and tests start it) runs.
 */
export { main, usage } from './main.js';
export { CliError } from './errors.js';
