export * from './errors.js';
export * from './flags.js';
export * from './send.js';
