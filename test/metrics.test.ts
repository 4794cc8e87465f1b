import express from 'express';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowMiddleware } from '../lib/index.js';
import { refusedUrl, sendRaw, serve, startShadowServer, tempLogFile } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `name{labels} value` lines of a scrape, as a map. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

describe('Prometheus metrics', () => {
  it('counts real traffic exactly: seen, mirrored, left out, shadow answers and errors, comparisons, durations', async () => {
    const agreeing = await startShadowServer((_req, res) => res.setHeader('content-type', 'application/json').end('{"label":"positive"}'));
    const dead = await refusedUrl();
    cleanups.push(() => agreeing.close());
    const shadow = shadowMiddleware({
      targets: [
        { name: 'v2', url: agreeing.url },
        { name: 'dead', url: dead, breaker: { failureThreshold: 100 } },
      ],
      methods: ['POST'],
      logFile: await tempLogFile(),
    });
    const registry = new Registry();
    shadow.registerMetrics(registry);
    const app = express();
    app.use(shadow);
    app.post('/predict/:model', (_req, res) => res.json({ label: 'positive' }));
    app.get('/health', (_req, res) => res.send('ok'));
    const server = await serve(app);
    cleanups.push(() => server.close(), () => shadow.close());

    for (let i = 0; i < 3; i++) await sendRaw(server.url, { path: `/predict/m${i}`, body: '{}', headers: { 'content-type': 'application/json' } });
    await sendRaw(server.url, { method: 'GET', path: '/health' });
    await agreeing.waitFor(3);
    await shadow.close();

    const text = await registry.metrics();
    const m = samples(text);
    expect(m.get('express_shadow_requests_seen_total')).toBe(4);
    expect(m.get('express_shadow_requests_mirrored_total{route="/predict/:model"}')).toBe(3);
    expect(m.get('express_shadow_requests_not_mirrored_total{reason="method"}')).toBe(1);
    expect(m.get('express_shadow_shadow_responses_total{target="v2",route="/predict/:model",status_class="2xx"}')).toBe(3);
    expect(m.get('express_shadow_shadow_errors_total{target="dead",route="/predict/:model",code="ECONNREFUSED"}')).toBe(3);
    expect(m.get('express_shadow_comparisons_total{target="v2",route="/predict/:model",outcome="match"}')).toBe(3);
    expect(m.get('express_shadow_production_duration_seconds_count{route="/predict/:model"}')).toBe(3);
    expect(m.get('express_shadow_shadow_duration_seconds_count{target="v2",route="/predict/:model"}')).toBe(3);
    expect(m.get('express_shadow_shadow_duration_seconds_count{target="dead",route="/predict/:model"}')).toBe(3);
    expect(m.get('express_shadow_in_flight')).toBe(0);
    expect(m.get('express_shadow_queued_bytes')).toBe(0);
    expect(m.get('express_shadow_breaker_state{target="v2"}')).toBe(0);
  });

  it('shows breaker state and a custom prefix', async () => {
    const dead = await refusedUrl();
    const shadow = shadowMiddleware({ target: dead, name: 'v2', logFile: await tempLogFile(), breaker: { failureThreshold: 1, cooldownMs: 60_000 } });
    const registry = new Registry();
    shadow.registerMetrics(registry, { prefix: 'ml_shadow_' });
    const server = await serve((req, res) => shadow(req, res, () => res.end('ok')));
    cleanups.push(() => server.close(), () => shadow.close());
    await sendRaw(server.url, { method: 'GET', path: '/x' });
    await shadow.close();
    const m = samples(await registry.metrics());
    expect(m.get('ml_shadow_breaker_state{target="v2"}')).toBe(1);
    expect(m.get('ml_shadow_shadow_errors_total{target="v2",route="unmatched",code="ECONNREFUSED"}')).toBe(1);
  });

  it('keeps label cardinality bounded under 1,000 distinct URLs', async () => {
    const shadowServer = await startShadowServer((_req, res) => res.end('{}'));
    cleanups.push(() => shadowServer.close());
    // Bursts of 100 on a loaded machine may keep the engine behind: every request must still be mirrored here.
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile: await tempLogFile(), maxQueue: 2000, maxEngineLagMs: 60_000 });
    const registry = new Registry();
    shadow.registerMetrics(registry);
    const app = express();
    app.use(shadow);
    app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
    const server = await serve(app);
    cleanups.push(() => server.close(), () => shadow.close());
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => sendRaw(server.url, { method: 'GET', path: `/items/${batch * 100 + i}?q=${i}` })));
    }
    await shadowServer.waitFor(1000);
    await shadow.close();
    const text = await registry.metrics();
    const series = [...samples(text).keys()];
    expect(series.length).toBeLessThan(60);
    expect(text).not.toMatch(/\/items\/\d/);
    expect(samples(text).get('express_shadow_requests_mirrored_total{route="/items/:id"}')).toBe(1000);
  });

  it('ships a Grafana dashboard whose every query uses a metric the middleware registers', async () => {
    const { readFile } = await import('node:fs/promises');
    const dashboard = JSON.parse(await readFile(new URL('../demo-app/grafana/express-shadow-dashboard.json', import.meta.url), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: '/dev/null' });
    cleanups.push(() => shadow.close());
    const registry = new Registry();
    shadow.registerMetrics(registry);
    const registered = new Set((await registry.getMetricsAsJSON()).map((metric) => metric.name));
    const used = dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => target.expr.match(/express_shadow_\w+/g) ?? []));
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(registered, name).toContain(name.replace(/_(bucket|count|sum)$/, ''));
    expect(dashboard.panels.map((panel) => panel.title)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Agreement rate/), expect.stringMatching(/Breaker state/), expect.stringMatching(/by reason/)]),
    );
  });

  it('throws a clear error for a registry that is not one', () => {
    const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: '/dev/null' });
    cleanups.push(() => shadow.close());
    expect(() => shadow.registerMetrics({} as never)).toThrow(/must be a prom-client Registry/);
  });
});
