// Runs the hart worker's TypeScript entry in a worker thread (tests only: no build needed).
import { register } from 'tsx/esm/api';

register();
await import('../src/threads/node-entry.ts');
