/**
 * How bodies are logged when they are not what they claim or not what they were: JSON that does not parse or is not
 * UTF-8, a buffer the app reuses after writing it, and JSON nested deeper than a parser's stack. In both engine modes
 * where the engine does the work.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowLogRecord, ShadowOptions } from '../lib/index.js';
import {
  byteCountingHandler, engines, memoryLog, readRecords, recordsOfType, sendRaw, startShadowServer, tempLogFile,
  testScope
} from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

describe('bodies that are not what their content type claims', () => {
  for (const { name, bytes } of [
    { name: 'invalid JSON', bytes: Buffer.from('{"text": "unterminated') },
    { name: 'not UTF-8', bytes: Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]) },
  ]) {
    it(`a body declared application/json that is ${name} is mirrored byte for byte and, as it may hide a masked field, logged as its size and sha256`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const logFile = await tempLogFile();
      const shadow = mirror({ target: shadowServer.url, logFile });
      const app = await startApp(shadow, byteCountingHandler().handler);
      const response = await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body: bytes });
      expect(response.body.toString()).toBe(String(bytes.length));
      const [received] = await shadowServer.waitFor(1);
      expect(received!.body.equals(bytes)).toBe(true);
      await shadow.close();
      const [production] = recordsOfType(await readRecords(logFile), 'production');
      expect(production!.request).toMatchObject({ body: '[REDACTED]', bodyBytes: bytes.length, bodySha256: createHash('sha256').update(bytes).digest('hex') });
    });
  }

  it("logs the shadow's own invalid JSON answer as base64 too", async () => {
    const answer = Buffer.from('<html>502 Bad Gateway</html>');
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(answer);
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    const [record] = await log.waitFor('shadow');
    expect(record!.response).toMatchObject({ bodyEncoding: 'base64', body: answer.toString('base64') });
  });
});

describe('buffers the app reuses', () => {
  for (const engine of engines) {
    it(`logs what was sent, not what the app later wrote into its buffer, and reports no false mismatch (${engine.name})`, async () => {
      const answer = '{"label":"positive","score":0.9}';
      const shadowServer = closeLater(
        await startShadowServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(answer);
        }),
      );
      const { options, records } = await engine.setup();
      const shadow = mirror({ target: shadowServer.url, ...options } as ShadowOptions);
      const app = await startApp(shadow, (_req, res) => {
        const buffer = Buffer.from(answer);
        res.setHeader('content-type', 'application/json');
        res.setHeader('content-length', buffer.length);
        res.write(buffer, () => {
          // Legal once the callback ran: the buffer is the app's again.
          buffer.fill(0x78);
          res.end();
        });
      });
      const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
      expect(response.body.toString()).toBe(answer);
      await shadowServer.waitFor(1);
      const all = await records(shadow);
      const [production] = recordsOfType(all, 'production');
      expect(production!.response.body).toEqual(JSON.parse(answer));
      expect(recordsOfType(all, 'comparison')[0]).toMatchObject({ match: true });
    });
  }
});

describe('deeply nested JSON', () => {
  for (const engine of engines) {
    it(`writes the production, shadow and comparison records of 100,000-deep request and response bodies, with a marker (${engine.name})`, async () => {
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      const shadowServer = closeLater(
        await startShadowServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(deep);
        }),
      );
      const { options, records } = await engine.setup();
      const shadow = mirror({ target: shadowServer.url, maxLoggedBodyBytes: 1_048_576, ...options } as ShadowOptions);
      const app = await startApp(shadow, (req, res) => {
        req.resume();
        req.on('end', () => res.type('application/json').send(deep));
      });
      await sendRaw(app.url, { path: '/deep', body: deep, headers: { 'content-type': 'application/json' } });
      await shadowServer.waitFor(1);
      const all = await records(shadow);
      const byType = (type: ShadowLogRecord['type']) => all.filter((r) => r.type === type);
      for (const type of ['production', 'shadow', 'comparison'] as const) expect(byType(type), type).toHaveLength(1);
      expect(JSON.stringify(byType('production')[0])).toContain('[nested too deep to log]');
      expect(JSON.stringify(byType('shadow')[0])).toContain('[nested too deep to log]');
    });
  }
});
