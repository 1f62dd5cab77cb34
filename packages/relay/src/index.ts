export * from './directory.js';
export * from './endpoint.js';
export * from './errors.js';
export * from './mobile-push.js';
