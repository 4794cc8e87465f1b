/** express-shadow: mirror Express traffic to a shadow model, log both answers side by side, compare them. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { shadowMiddleware as createShadowMiddleware } from './tap/middleware.js';
import type { ShadowHookRequest, ShadowHookResponse, ShadowMiddleware, ShadowOptions } from './types.js';

/**
 * Creates the middleware that mirrors each request to the shadow after production has answered, and logs both
 * answers side by side as JSON lines. Options are validated here, once: a bad one throws `ShadowOptionsError`.
 *
 * The hooks (`filter`, `sampleBy`, `mirrorIf`) receive Express's `Request`/`Response` when `@types/express` is
 * installed, Node's `IncomingMessage`/`ServerResponse` otherwise; pass your own request type as `Req` if you have one.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { shadowMiddleware } from 'express-shadow';
 *
 * const app = express();
 * const shadow = shadowMiddleware({
 *   target: 'http://127.0.0.1:9000',
 *   sampleRate: 0.1,
 *   filter: (req) => req.path !== '/admin',
 * });
 * app.post('/predict', shadow, (_req, res) => {
 *   res.json({ label: 'positive' });
 * });
 * const server = app.listen(3000, '127.0.0.1');
 * // On SIGTERM: stop taking requests, let those in progress finish, then flush the shadow's log; the process then exits.
 * process.once('SIGTERM', () => server.close(() => void shadow.close({ timeoutMs: 5000 })));
 * ```
 */
// Re-declared here (the same function) to carry the public generic signature and its documentation.
export const shadowMiddleware: <Req extends IncomingMessage = ShadowHookRequest, Res extends ServerResponse = ShadowHookResponse>(
  options: ShadowOptions<Req, Res>,
) => ShadowMiddleware = createShadowMiddleware as never;

export { ShadowOptionsError, ShadowUsageError, ShadowMissingPeerError } from './errors.js';
export { isValidRequestId, shadowRequestId } from './tap/request-id.js';
export type * from './types.js';
export type { MetricsOptions } from './metrics.js';
export { DEFAULT_LATENCY_BUCKETS } from './metrics.js';
export * from './report/index.js';
export * from './replay/index.js';
