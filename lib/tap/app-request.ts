/** The request and response as the tap sees them: a leaf shared by the tap's parts. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What `req` looks like to us: Express adds these; a bare `http` server has none of them. */
export interface AppRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  body?: unknown;
}
export interface AppResponse extends ServerResponse {
  locals?: Record<string, unknown>;
}

/** The Express route that matched (mount path included), or null: read late, once the router has run. */
export function routeOf(req: AppRequest): string | null {
  const route = req.route;
  const routePath = route && typeof route.path === 'string' ? route.path : undefined;
  return routePath === undefined ? null : (req.baseUrl ?? '') + routePath;
}
