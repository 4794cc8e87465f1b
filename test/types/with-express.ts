/**
 * Type tests, compiled (never run) by `npm run typecheck` against lib/ and by test/package.test.ts against the packed
 * package. Each `@ts-expect-error` line must NOT compile; tsc fails if one does.
 */
import express, { type Request } from 'express';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { shadowMiddleware, type ShadowOptions, type ShadowLogRecord, type ProductionRecord } from 'express-shadow';

const target = 'http://127.0.0.1:9';

// With @types/express installed, the hooks get Express's Request and Response.
const app = express();
const shadow = shadowMiddleware({
  target,
  filter: (req) => req.path !== '/admin',
  sampleBy: (req) => req.ip ?? '',
  mirrorIf: (req, res) => res.statusCode < 500 && req.method === 'POST' && res.locals !== undefined,
});
app.post('/predict', shadow, (_req, res) => {
  res.json({ label: 'positive' });
});
app.use(shadow);

// A request type of the app's own, as the type argument.
interface AuthedRequest extends Request {
  user: { id: string };
}
shadowMiddleware<AuthedRequest>({ target, sampleBy: (req) => req.user.id });

// Hooks written for bare Node keep compiling.
const bare = shadowMiddleware({ target, filter: (req: IncomingMessage) => req.url !== '/admin', mirrorIf: (_req: IncomingMessage, res: ServerResponse) => res.statusCode < 500 });
http.createServer((req, res) => bare(req, res, () => res.end('ok')));

// Several candidates instead of one target.
shadowMiddleware({ targets: [{ name: 'v2', url: target }, { name: 'v3', url: target, sampleRate: 0.1 }] });

// A typed options object, and the record union narrowed by `type`.
const options: ShadowOptions = { target, sampleRate: 0.5 };
shadowMiddleware(options);
function statusOf(record: ShadowLogRecord): number | undefined {
  return record.type === 'production' ? (record satisfies ProductionRecord).status : undefined;
}
void statusOf;

// prom-client's Registry, of either content type.
shadow.registerMetrics(new Registry());
shadow.registerMetrics(new Registry<'application/openmetrics-text; version=1.0.0; charset=utf-8'>());
shadow.registerMetrics();

// @ts-expect-error a target is required: `target` or `targets`
shadowMiddleware({});
// @ts-expect-error a target is required, other options do not replace it
shadowMiddleware({ sampleRate: 0.5 });
// @ts-expect-error `target` and `targets` cannot be combined
shadowMiddleware({ target, targets: [{ url: target }] });
// @ts-expect-error `name` names the single `target`; with `targets`, each entry is named
shadowMiddleware({ targets: [{ url: target }], name: 'v2' });
// @ts-expect-error a target is a URL string or a function
shadowMiddleware({ target: 1 });
// @ts-expect-error an unknown option
shadowMiddleware({ target, sampelRate: 0.5 });
// @ts-expect-error a filter returns a boolean
shadowMiddleware({ target, filter: (req) => req.path });
// @ts-expect-error with prom-client installed, registerMetrics wants a Registry
shadow.registerMetrics({});
