/** express-shadow: mirror Express traffic to a shadow model, log both answers side by side, compare them. */
export { shadowMiddleware } from './tap/middleware.js';
export { shadowRequestId } from './tap/request-id.js';
export { ShadowOptionsError, ShadowUsageError, ShadowMissingPeerError } from './errors.js';
export { isValidRequestId } from './tap/request-id.js';
export type * from './types.js';
export type { MetricsOptions } from './metrics.js';
export { DEFAULT_LATENCY_BUCKETS } from './metrics.js';
export * from './report/index.js';
export * from './replay/index.js';
