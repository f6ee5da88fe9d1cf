export * from './bus.js';
export { Ram } from './ram.js';
