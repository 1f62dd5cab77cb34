export * from './errors.js';
export * from './info.js';
export * from './plugin.js';
export * from './rpc.js';
export * from './settings.js';
export * from './run.js';
