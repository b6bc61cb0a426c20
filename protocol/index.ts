/**
 * The protocol's public entry: what browsers and every service share. Imports
 * nothing from node:*; HubPublisher has its own entry (`./publisher`).
 */
export * from './catalogue.ts';
export * from './client.ts';
export * from './codec.ts';
export * from './domain-events.ts';
export * from './errors.ts';
export * from './event-append.ts';
export * from './event-schema.ts';
export * from './presence.ts';
export * from './subjects.ts';
