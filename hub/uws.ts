/**
 * Loads uWebSockets.js. The package is CommonJS with a computed export, so it is
 * required rather than imported. It silently falls back to a slow `ws` shim when
 * its native binary cannot load; `uwsRuntime` says which one runs.
 */
import { createRequire } from 'node:module';

export const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof import('uWebSockets.js');

/** The shim exports only App; the native module also has SSLApp. */
export const uwsRuntime: 'native' | 'fallback' = 'SSLApp' in uws ? 'native' : 'fallback';
