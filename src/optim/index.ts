export * from './schedules.js';
export * from './lr-scheduler.js';
export * from './one-cycle.js';
export * from './reduce-on-plateau.js';
export * from './lr-find.js';
