/**
 * Type test for an app without @types/express and without prom-client, compiled by test/package.test.ts in a project
 * where neither can be resolved (so not part of `npm run typecheck`, where both are installed).
 */
import http from 'node:http';
import { shadowMiddleware } from 'express-shadow';

const target = 'http://127.0.0.1:9';

// The hooks get Node's IncomingMessage and ServerResponse.
const shadow = shadowMiddleware({
  target,
  filter: (req) => req.url !== '/admin',
  mirrorIf: (req, res) => res.statusCode < 500 && req.method === 'POST',
});
http.createServer((req, res) => shadow(req, res, () => res.end('ok')));

// @ts-expect-error no Express here: IncomingMessage has no `path`
shadowMiddleware({ target, filter: (req) => req.path !== '/admin' });

// Without prom-client the registry is any object (checked at run time).
shadow.registerMetrics({});

// @ts-expect-error a target is required
shadowMiddleware({});
