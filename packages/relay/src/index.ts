export * from './directory.js';
export * from './endpoint.js';
export * from './errors.js';
export * from './channels/index.js';
export * from './channels-config.js';
export * from './outbox.js';
export * from './routing.js';
export * from './timer-wheel.js';
