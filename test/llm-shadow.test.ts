/**
 * Shadowing a text-generating model end to end, through the middleware with real servers on 127.0.0.1: text paths
 * judged by similarity while the rest of the JSON is compared exactly, a streamed answer scored whole, numbers compared
 * as written, and the embed and judge hooks (module hooks in the engine's worker, and plain functions in the app's
 * thread) with their failures, timeouts and budget counted and never touching production or the comparison record.
 */
import { readFileSync } from 'node:fs';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { replayShadowLog } from '../lib/index.js';
import type { ComparisonRecord, JudgeHook, JudgementRecord, JudgementSummaryRecord, ShadowLogRecord, ShadowOptions } from '../lib/index.js';
import { deferred, readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempLogFile, testScope, type ReceivedRequest } from './helpers.js';

const { closeLater, mirror, cleanUp } = testScope();
afterEach(cleanUp);

interface Pair {
  kind: 'paraphrase' | 'wrong' | 'negation';
  production: string;
  candidate: string;
}
const { pairs } = JSON.parse(readFileSync(new URL('./fixtures/sentence-pairs.json', import.meta.url), 'utf8')) as { pairs: Pair[] };
const hooks = new URL('./fixtures/judge-hooks.mjs', import.meta.url).pathname;

function completion(content: string, model = 'gpt-prod'): string {
  // `id` and `created` differ on every call, as a real API's do.
  return JSON.stringify({ id: `chatcmpl-${Math.random().toString(36).slice(2)}`, created: Date.now(), model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });
}

/** Production: answers prompt i with pair i's production text. */
async function productionApp(shadow: express.RequestHandler) {
  const app = express();
  app.post('/v1/chat/completions', shadow, express.json(), (req, res) => {
    const { prompt } = req.body as { prompt: number };
    res.type('application/json').send(completion(pairs[prompt]!.production));
  });
  return closeLater(await serve(app));
}

/** The candidate: pair i's candidate text, or what `override` says for a prompt. */
async function candidateServer(override: (prompt: number) => { content?: string; model?: string } = () => ({})) {
  return closeLater(
    await startShadowServer((req: ReceivedRequest, res) => {
      const { prompt } = JSON.parse(req.body.toString('utf8')) as { prompt: number };
      const { content = pairs[prompt]!.candidate, model } = override(prompt);
      res.setHeader('content-type', 'application/json');
      res.end(completion(content, model));
    }),
  );
}

async function ask(url: string, prompt: number) {
  return sendRaw(url, { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt }) });
}

const compare = { ignorePaths: ['$.id', '$.created'], similarity: { '$.choices[*].message.content': 'rouge-l' } } satisfies ShadowOptions['compare'];

describe('similarity paths through the middleware', () => {
  it('matches every reworded answer and fails every wrong one, each comparison carrying its score', async () => {
    const candidate = await candidateServer();
    const logFile = await tempLogFile();
    const shadow = mirror({ target: candidate.url, logFile, compare });
    const app = await productionApp(shadow);
    const asked = pairs.map((pair, prompt) => ({ pair, prompt })).filter(({ pair }) => pair.kind !== 'negation');
    for (const { prompt } of asked) {
      const response = await ask(app.url, prompt);
      // The client gets production's answer, whatever the candidate said.
      expect(JSON.parse(response.body.toString('utf8')).choices[0].message.content).toBe(pairs[prompt]!.production);
    }
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const productionIds = new Map(recordsOfType(records, 'production').map((r) => [r.requestId, JSON.parse(JSON.stringify(r.request.body)).prompt as number]));
    const comparisons = recordsOfType(records, 'comparison');
    expect(comparisons).toHaveLength(asked.length);
    for (const comparison of comparisons) {
      const pair = pairs[productionIds.get(comparison.requestId)!]!;
      const [scored] = comparison.similarity!;
      expect(scored).toMatchObject({ path: '$.choices[0].message.content', measure: 'rouge-l', threshold: 0.4 });
      if (pair.kind === 'paraphrase') {
        expect(comparison).toMatchObject({ match: true, differences: [] });
        expect(scored!.score).toBeGreaterThanOrEqual(0.4);
      } else {
        expect(comparison.match).toBe(false);
        expect(comparison.differences).toEqual([{ path: '$.choices[0].message.content', production: pair.production, shadow: pair.candidate, score: scored!.score }]);
      }
    }
  });

  it('still compares the rest of the JSON exactly: a reworded answer from another model is a mismatch at $.model only', async () => {
    const candidate = await candidateServer(() => ({ model: 'gpt-candidate' }));
    const logFile = await tempLogFile();
    const shadow = mirror({ target: candidate.url, logFile, compare });
    const app = await productionApp(shadow);
    await ask(app.url, pairs.findIndex((p) => p.kind === 'paraphrase'));
    await shadow.whenIdle();
    const [comparison] = recordsOfType(await readRecords(logFile), 'comparison');
    expect(comparison!.match).toBe(false);
    expect(comparison!.differences).toEqual([{ path: '$.model', production: 'gpt-prod', shadow: 'gpt-candidate' }]);
    expect(comparison!.similarity![0]!.score).toBeGreaterThanOrEqual(0.4);
  });

  it('scores the assembled text of a streamed answer at $', async () => {
    const paraphrase = pairs.find((p) => p.kind === 'paraphrase')!;
    const wrong = pairs.find((p) => p.kind === 'wrong')!;
    const stream = (text: string, res: { write(chunk: string): unknown; end(chunk: string): unknown }) => {
      for (const word of text.split(/(?<= )/)) res.write(`data: ${word}\n\n`);
      res.end('data: [DONE]\n\n');
    };
    const candidate = closeLater(
      await startShadowServer((req, res) => {
        res.setHeader('content-type', 'text/event-stream');
        stream(req.url.includes('wrong') ? wrong.candidate : paraphrase.candidate, res);
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: candidate.url, logFile, compare: { similarity: { $: 'token-f1' } } });
    const app = express();
    app.get('/generate/:kind', shadow, (req, res) => {
      res.type('text/event-stream');
      stream(req.params.kind === 'wrong' ? wrong.production : paraphrase.production, res);
    });
    const server = closeLater(await serve(app));
    await sendRaw(server.url, { method: 'GET', path: '/generate/paraphrase' });
    await sendRaw(server.url, { method: 'GET', path: '/generate/wrong' });
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const route = new Map(recordsOfType(records, 'production').map((r) => [r.requestId, r.path]));
    const byPath = new Map(recordsOfType(records, 'comparison').map((c) => [route.get(c.requestId), c]));
    expect(byPath.get('/generate/paraphrase')).toMatchObject({ match: true, similarity: [{ path: '$', measure: 'token-f1' }] });
    expect(byPath.get('/generate/wrong')).toMatchObject({ match: false, differences: [{ path: '$', production: wrong.production, shadow: wrong.candidate }] });
  });

  it('compares big integers from the JSON text: ids past 2^53 that differ are a mismatch', async () => {
    const candidate = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end('{"userId":9007199254740993,"orderId":123456789012345678901,"total":12.5}');
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: candidate.url, logFile });
    const app = express();
    app.get('/order', shadow, (_req, res) => res.type('application/json').send('{"userId":9007199254740992,"orderId":123456789012345678901,"total":12.50}'));
    const server = closeLater(await serve(app));
    await sendRaw(server.url, { method: 'GET', path: '/order' });
    await shadow.whenIdle();
    const [comparison] = recordsOfType(await readRecords(logFile), 'comparison');
    expect(comparison).toMatchObject({ match: false, differences: [{ path: '$.userId', production: '9007199254740992', shadow: '9007199254740993' }] });
  });

  it('replay scores the same text paths: a candidate replayed from the log gets the same similarity records', async () => {
    const candidate = await candidateServer();
    const logFile = await tempLogFile();
    const shadow = mirror({ target: candidate.url, logFile, compare });
    const app = await productionApp(shadow);
    const prompts = [pairs.findIndex((p) => p.kind === 'paraphrase'), pairs.findIndex((p) => p.kind === 'wrong')];
    for (const prompt of prompts) await ask(app.url, prompt);
    await shadow.close();
    const live = recordsOfType(await readRecords(logFile), 'comparison');
    const out = await tempLogFile();
    const summary = await replayShadowLog(logFile, { target: candidate.url, name: 'replayed', out, compare, methods: ['POST'] }).done;
    expect(summary.stats.replayed).toBe(2);
    const replayed = recordsOfType(await readRecords(out), 'comparison');
    expect(replayed).toHaveLength(2);
    for (const comparison of replayed) {
      const original = live.find((c) => c.requestId === comparison.requestId)!;
      expect(comparison.similarity).toEqual(original.similarity);
      expect(comparison.match).toBe(original.match);
    }
    expect(replayed.map((c) => c.match).sort()).toEqual([false, true]);
  });

  it('rejects a misspelt measure at construction with a did-you-mean', () => {
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', compare: { similarity: { $: 'rougeL' as 'rouge-l' } } })).toThrow(/compare\.similarity\["\$"\]` must name a measure.*Did you mean 'rouge-l'\?/);
  });
});

async function judged(options: Omit<Partial<ShadowOptions>, 'target' | 'targets'>, prompts: number[], candidateText?: (prompt: number) => string) {
  const candidate = await candidateServer(candidateText ? (prompt) => ({ content: candidateText(prompt) }) : undefined);
  const logFile = await tempLogFile();
  const shadow = mirror({ target: candidate.url, logFile, compare, judgeSampleRate: 1, ...options });
  const app = await productionApp(shadow);
  const answers: string[] = [];
  for (const prompt of prompts) answers.push((await ask(app.url, prompt)).body.toString('utf8'));
  return { shadow, logFile, answers };
}

function judgementsOf(records: Awaited<ReturnType<typeof readRecords>>) {
  return { judgements: recordsOfType(records, 'judgement') as JudgementRecord[], comparisons: recordsOfType(records, 'comparison') as ComparisonRecord[] };
}

describe('embed and judge module hooks in the engine worker', () => {
  it('writes an embedding cosine and a judge score with its reason per sampled comparison, joined by requestId, after the comparison', async () => {
    const paraphrase = pairs.findIndex((p) => p.kind === 'paraphrase');
    const wrong = pairs.findIndex((p) => p.kind === 'wrong');
    const { shadow, logFile } = await judged(
      { embed: { module: hooks, export: 'embed' }, judge: { module: hooks, export: 'judge' }, redactValues: ['email'] },
      [paraphrase, wrong],
    );
    await shadow.whenIdle();
    expect(shadow.stats().engine.mode).toBe('worker');
    const records = await readRecords(logFile);
    const { judgements, comparisons } = judgementsOf(records);
    expect(judgements).toHaveLength(4);
    for (const judgement of judgements) {
      const comparison = comparisons.find((c) => c.requestId === judgement.requestId)!;
      expect(records.indexOf(judgement)).toBeGreaterThan(records.indexOf(comparison));
      expect(judgement).toMatchObject({ target: comparison.target, route: '/v1/chat/completions', path: '$.choices[0].message.content', score: expect.any(Number) });
    }
    const score = (hook: string, match: boolean) => judgements.find((j) => j.hook === hook && comparisons.find((c) => c.requestId === j.requestId)!.match === match)!.score!;
    expect(score('embed', true)).toBeGreaterThan(score('embed', false));
    expect(score('judge', true)).toBeGreaterThan(score('judge', false));
    const reason = judgements.find((j) => j.hook === 'judge')!.reason!;
    // The judge got the request's input; its reason is value-masked like any logged text.
    expect(reason).toMatch(/^graded prompt \d+: \d+ shared words; contact me at \[REDACTED:email\]$/);
  });

  it('counts a hook that throws, one that answers the wrong shape and one that never answers, and production and the comparison are untouched', async () => {
    const texts = ['THROW this one', 'BAD shape', 'HANG forever'];
    const { shadow, logFile, answers } = await judged(
      { judge: { module: hooks, export: 'judge' }, judgeLimits: { timeoutMs: 200, maxConcurrent: 8, maxCallsPerMinute: 100 } },
      [0, 1, 2],
      (prompt) => texts[prompt]!,
    );
    answers.forEach((answer, prompt) => expect(JSON.parse(answer).choices[0].message.content).toBe(pairs[prompt]!.production));
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const { judgements, comparisons } = judgementsOf(records);
    expect(comparisons).toHaveLength(3);
    expect(comparisons.every((c) => c.match === false && c.error === undefined)).toBe(true);
    expect(judgements.map((j) => j.error?.code).sort()).toEqual(['bad_result', 'hook_error', 'timeout']);
    expect(judgements.find((j) => j.error?.code === 'hook_error')!.error!.message).toContain('grader unavailable');
    await shadow.close();
    const [summary] = recordsOfType(await readRecords(logFile), 'judgement_summary') as JudgementSummaryRecord[];
    expect(summary).toMatchObject({ sampled: 3, calls: { embed: 0, judge: 3 }, succeeded: 0, failed: { hook_error: 1, bad_result: 1, timeout: 1 } });
  });
});

describe('judge hooks as functions (engine in the app thread)', () => {
  it('keeps to the budget of calls per minute and counts the rest as skipped', async () => {
    let calls = 0;
    const judge: JudgeHook = () => ({ score: ++calls });
    const { shadow, logFile } = await judged({ judge, judgeLimits: { maxCallsPerMinute: 3 } }, [0, 1, 2, 3, 4, 5, 6]);
    await shadow.close();
    expect(calls).toBe(3);
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'judgement')).toHaveLength(3);
    expect(recordsOfType(records, 'comparison')).toHaveLength(7);
    expect(recordsOfType(records, 'judgement_summary')[0]).toMatchObject({ sampled: 7, calls: { judge: 3 }, succeeded: 3, skipped: { budget: 4 } });
  });

  it('never holds back the comparison record: it is written before the judge is called, and the judge may take its time', async () => {
    const written: ShadowLogRecord[] = [];
    let release!: () => void;
    const thinking = new Promise<void>((resolve) => (release = resolve));
    const judgeStarted = deferred<number>();
    const judge: JudgeHook = async () => {
      judgeStarted.resolve(written.filter((r) => r.type === 'comparison').length);
      await thinking;
      return { score: 1 };
    };
    const candidate = await candidateServer();
    const shadow = mirror({ target: candidate.url, logger: { write: (record: ShadowLogRecord) => written.push(record) }, compare, judge, judgeSampleRate: 1 });
    const app = await productionApp(shadow);
    await ask(app.url, 0);
    expect(await judgeStarted.promise).toBe(1);
    expect(written.filter((r) => r.type === 'judgement')).toHaveLength(0);
    release();
    await shadow.whenIdle();
    expect(written.filter((r) => r.type === 'judgement')).toMatchObject([{ score: 1 }]);
  });

  it('samples the same requests for every target, so the secondary is judged on the requests the candidate is', async () => {
    const seen: string[] = [];
    const judge: JudgeHook = (input) => {
      seen.push(JSON.stringify(input.body));
      return { score: 0.5 };
    };
    const secondary = await candidateServer((prompt) => ({ content: pairs[prompt]!.production }));
    const prompts = Array.from({ length: 30 }, (_, i) => i);
    const { shadow, logFile } = await judged({ judge, judgeSampleRate: 0.5, secondary: secondary.url }, prompts);
    await shadow.whenIdle();
    const judgements = recordsOfType(await readRecords(logFile), 'judgement');
    const byRequest = new Map<string, string[]>();
    for (const j of judgements) byRequest.set(j.requestId, [...(byRequest.get(j.requestId) ?? []), j.role ?? 'candidate']);
    expect(byRequest.size).toBeGreaterThan(5);
    expect(byRequest.size).toBeLessThan(25);
    for (const roles of byRequest.values()) expect(roles.sort()).toEqual(['candidate', 'secondary']);
  });

  it('close() cancels a judge that outlives its timeout, writes the cancellation and resolves', async () => {
    const judge: JudgeHook = () => new Promise(() => {});
    const { shadow, logFile } = await judged({ judge, judgeLimits: { timeoutMs: 60_000 } }, [0]);
    await shadow.close({ timeoutMs: 300 });
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'judgement')).toMatchObject([{ error: { code: 'cancelled' } }]);
    expect(recordsOfType(records, 'comparison')).toHaveLength(1);
  });

  it('rejects judging options without a hook, and misspelt limits, with a ShadowOptionsError', () => {
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', judgeSampleRate: 0.5 })).toThrow(/option `judgeSampleRate` applies to the `embed` and `judge` hooks/);
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', judge: () => ({ score: 1 }), judgeLimits: { maxCallsPerMinit: 3 } as never })).toThrow(/Did you mean `judgeLimits\.maxCallsPerMinute`\?/);
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', judge: 'grader' as never })).toThrow(/option `judge` must be a function or a module hook/);
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', jugde: () => ({ score: 1 }) } as never)).toThrow(/Did you mean `judge`\?/);
  });
});
