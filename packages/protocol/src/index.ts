export * from './messages.js';
export * from './format.js';
