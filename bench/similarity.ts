/**
 * Per-comparison cost of the similarity measures (lib/engine/similarity.ts) on LLM-like answers of 200 and 2,000
 * words: production's answer against a re-generation with about one word in ten changed. Prints µs per comparison of
 * this thread's CPU, the median of interleaved rounds, for:
 *   - each measure on the two texts (normalisation and tokenisation included),
 *   - the whole default comparator on an OpenAI-style chat completion whose content is scored with `rouge-l`,
 *   - `js-rouge` (the maintained ROUGE package) on the same texts, the reason ROUGE-L is written here.
 *
 *   npx tsx bench/similarity.ts [rounds]
 */
import * as rouge from 'js-rouge';
import { createComparator } from '../lib/engine/compare.js';
import { createMeasure, DEFAULT_NORMALIZATION } from '../lib/engine/similarity.js';
import type { ComparedAnswer } from '../lib/types.js';
import { seededRandom } from '../lib/report/stats/random.js';

const rounds = Number(process.argv[2] ?? 7);

const VOCABULARY = (
  'the a an of to and in that it is was for on with as by at from this your you we can will should would please note ' +
  'order refund account payment invoice shipping delivery customer support team business days statement approved ' +
  'request policy return item warehouse address verify identity password settings page billing plan subscription ' +
  'model answer question because however therefore also likely several within after before during about more most'
).split(' ');

/** Sentences of 8–24 words with capitals and punctuation, like a chat model's prose. */
function answer(words: number, random: () => number): string {
  const out: string[] = [];
  let inSentence = 0;
  let length = 8 + Math.floor(random() * 16);
  for (let i = 0; i < words; i++) {
    let word = VOCABULARY[Math.floor(random() * VOCABULARY.length)]!;
    if (inSentence === 0) word = word[0]!.toUpperCase() + word.slice(1);
    inSentence++;
    if (inSentence === length || i === words - 1) {
      word += random() < 0.8 ? '.' : '?';
      inSentence = 0;
      length = 8 + Math.floor(random() * 16);
    } else if (random() < 0.06) word += ',';
    out.push(word);
  }
  return out.join(' ');
}

/** About one word in ten replaced, one in fifty dropped: a paraphrase-like re-generation. */
function regenerate(text: string, random: () => number): string {
  return text
    .split(' ')
    .filter(() => random() >= 0.02)
    .map((word) => (random() < 0.1 ? VOCABULARY[Math.floor(random() * VOCABULARY.length)]! : word))
    .join(' ');
}

function chat(content: string): ComparedAnswer {
  const json = { id: 'chatcmpl-1', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { total_tokens: 10 } };
  return { status: 200, headers: { 'content-type': 'application/json' }, isJson: true, json, bytes: Buffer.from(JSON.stringify(json)) };
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** µs of CPU per call: enough calls to run about 100 ms. */
function timeOne(run: () => unknown): number {
  run();
  let calls = 1;
  let started = cpuMicros();
  run();
  const single = Math.max(1, cpuMicros() - started);
  calls = Math.max(3, Math.min(20_000, Math.round(100_000 / single)));
  started = cpuMicros();
  for (let i = 0; i < calls; i++) run();
  return (cpuMicros() - started) / calls;
}

const random = seededRandom(42);
const comparator = createComparator({ similarity: { '$.choices[*].message.content': 'rouge-l' } });
const rows: Record<string, number[]> = {};
const cases = [200, 2000].flatMap((words) => {
  const production = answer(words, random);
  const shadow = regenerate(production, random);
  const chatProduction = chat(production);
  const chatShadow = chat(shadow);
  return [
    ...(['rouge-l', 'token-f1', 'levenshtein'] as const).map((measure) => {
      const score = createMeasure(measure, DEFAULT_NORMALIZATION);
      return { name: `${measure} ${words} words`, run: () => score(production, shadow) };
    }),
    { name: `comparator, chat completion, rouge-l ${words} words`, run: () => comparator(chatProduction, chatShadow) },
    { name: `js-rouge l() ${words} words`, run: () => rouge.l(shadow, production), once: words > 200 },
  ];
});

for (let round = 0; round < rounds; round++) {
  for (const { name, run, ...rest } of cases) {
    if ('once' in rest && rest.once && round > 0) continue;
    (rows[name] ??= []).push(timeOne(run));
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`Node ${process.version}, ${rounds} rounds, µs of CPU per comparison (median)`);
for (const [name, values] of Object.entries(rows)) console.log(`${name.padEnd(48)} ${median(values).toFixed(1).padStart(10)} µs`);
