/**
 * schema/shadow-log.schema.json describes the records the middleware writes: every record of the test fixtures and of
 * the benchmark generator validates, and records missing what readers rely on do not.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';

const schema = JSON.parse(await readFile(new URL('../schema/shadow-log.schema.json', import.meta.url), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);

async function records(fixture: string): Promise<Record<string, unknown>[]> {
  const bytes = await readFile(new URL(`fixtures/${fixture}`, import.meta.url));
  const text = (fixture.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  // The fixtures hold bad lines on purpose (cut, not JSON, unknown records): only records are checked.
  return text.split('\n').flatMap((line) => {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      return ['production', 'shadow', 'comparison', 'skipped', 'summary', 'breaker'].includes(record.type as string) ? [record] : [];
    } catch {
      return [];
    }
  });
}

describe('schema/shadow-log.schema.json', () => {
  it('accepts every record of the fixtures, of every type', async () => {
    const all = [...(await records('basic/shadow-a.log')), ...(await records('basic/shadow-b.log.gz')), ...(await records('streaming/shadow.log'))];
    const types = new Set(all.map((r) => r.type));
    expect([...types].sort()).toEqual(expect.arrayContaining(['comparison', 'production', 'shadow']));
    for (const record of all) {
      expect({ record, valid: validate(record), errors: validate.errors ?? null }).toMatchObject({ valid: true });
    }
  });

  it('rejects records missing what readers join on, or of an unknown type', () => {
    const t = '2024-05-01T10:00:00.000Z';
    expect(validate({ type: 'comparison', timestamp: t, target: 'v2', statusMatch: true, match: true, differences: [], latencyDeltaMs: 1 })).toBe(false);
    expect(validate({ type: 'shadow', requestId: 'r1', timestamp: t, durationMs: 3 })).toBe(false);
    expect(validate({ type: 'telemetry', requestId: 'r1', timestamp: t })).toBe(false);
    expect(validate({ type: 'breaker', timestamp: 'yesterday', target: 'v2', state: 'open', reason: 'x' })).toBe(false);
    expect(validate({ type: 'breaker', timestamp: t, target: 'v2', state: 'open', reason: 'x' })).toBe(true);
  });
});
