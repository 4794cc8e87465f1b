/**
 * The two models of the demo, as plain functions: text in, `{ label, score }` out.
 *
 * Both are real, small, lexicon-based sentiment analysers from npm, so they genuinely agree on most inputs and
 * disagree on some:
 * - v1, in production: `sentiment` (AFINN-165 word list; a word right after "not", "don't", ... is negated).
 * - v2, the candidate in shadow: `wink-sentiment` (AFINN-165 plus two-word phrases such as "fed up" and
 *   "does not work", emojis, emoticons and hashtags, and its own negation handling).
 *
 * Each model's own score is scaled to -1..+1 and turned into a label the same way for both, so the label
 * confusion matrix compares the models, not two labelling rules.
 *
 * `explain` is the demo's streaming model: the label and the words that drove it, as a sentence streamed token by
 * token (`POST /generate`), the way an LLM answers.
 */
import { createRequire } from 'node:module';
import Sentiment from 'sentiment';
import winkSentiment from 'wink-sentiment';

export type Label = 'positive' | 'negative' | 'neutral';
export type ModelVersion = 'v1' | 'v2';

export interface Prediction {
  label: Label;
  /** The model's sentiment, scaled to -1 (most negative) .. +1 (most positive). */
  score: number;
  /** Package name and version of the analyser. */
  model: string;
  version: ModelVersion;
}

/** Scores closer to 0 than this are `neutral`: a sentence with no sentiment-bearing word, or words that cancel out. */
export const NEUTRAL_BAND = 0.01;

export function labelFor(score: number): Label {
  if (score > NEUTRAL_BAND) return 'positive';
  if (score < -NEUTRAL_BAND) return 'negative';
  return 'neutral';
}

const require = createRequire(import.meta.url);
const packageVersion = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;
const V1_MODEL = `sentiment@${packageVersion('sentiment')}`;
const V2_MODEL = `wink-sentiment@${packageVersion('wink-sentiment')}`;

const clamp = (value: number): number => Math.max(-1, Math.min(1, value));
const round = (value: number): number => Math.round(value * 10_000) / 10_000;

const afinn = new Sentiment();

/** A word (or phrase, emoji, hashtag) that moved the score, with its contribution, negation included. */
export interface Evidence {
  word: string;
  score: number;
}

export interface Model {
  version: ModelVersion;
  /** What the model is, for people. */
  description: string;
  /** Package name and version of the analyser. */
  name: string;
  predict(text: string): Prediction;
  /** The words that drove the prediction, in the order they appear in the text. */
  evidence(text: string): Evidence[];
}

/**
 * PLANTED FLAW, for the report's verdict to catch: v2's prediction reads only the text before the first comma, as a
 * tokenizer that stops at a clause boundary would. "The battery died after two hours, completely useless." is judged
 * on "The battery died after two hours". Negative sentences, which often put the verdict after a comma, suffer most;
 * `express-shadow report --label-path $.label` fails label "negative" (and overall agreement) because of it.
 */
function firstClause(text: string): string {
  const comma = text.indexOf(',');
  return comma === -1 ? text : text.slice(0, comma);
}

export const MODELS: Record<ModelVersion, Model> = {
  v1: {
    version: 'v1',
    description: `${V1_MODEL} (AFINN-165)`,
    name: V1_MODEL,
    predict(text) {
      // `comparative` is the mean word score per token, -5..+5.
      const score = round(clamp(afinn.analyze(text).comparative / 5));
      return { label: labelFor(score), score, model: V1_MODEL, version: 'v1' };
    },
    evidence(text) {
      // `calculation` lists the scored words last first, one `{ word: score }` each.
      return afinn
        .analyze(text)
        .calculation.flatMap((entry) => Object.entries(entry).map(([word, score]) => ({ word, score })))
        .reverse();
    },
  },
  v2: {
    version: 'v2',
    description: `${V2_MODEL} (AFINN-165 + bigrams, emojis, negation)`,
    name: V2_MODEL,
    predict(text) {
      // `normalizedScore` is documented as always within -5..+5.
      const score = round(clamp(winkSentiment(firstClause(text)).normalizedScore / 5));
      return { label: labelFor(score), score, model: V2_MODEL, version: 'v2' };
    },
    evidence(text) {
      const tokens = winkSentiment(text).tokenizedPhrase;
      const evidence: Evidence[] = [];
      tokens.forEach((token, index) => {
        if (token.score === undefined || token.score === 0) return;
        // A scored two-word phrase ("fed up") is scored on its first token, which says how many follow.
        const phrase = tokens.slice(index, index + 1 + (token.grouped ?? 0)).map((t) => t.value);
        evidence.push({ word: phrase.join(' ').toLowerCase(), score: token.score });
      });
      return evidence;
    },
  },
};

/** How many of the words that drove a prediction an explanation names. */
export const EXPLANATION_WORDS = 4;

/**
 * The "small streaming model" of `POST /generate`: a one-line explanation of the prediction, generated token by
 * token, e.g. `negative: terrible (-3), love (-3)` or `neutral: no word with a sentiment`. The two versions differ
 * where their labels or their words differ.
 */
export function explain(model: Model, text: string): string {
  const { label } = model.predict(text);
  const words = model.evidence(text).slice(0, EXPLANATION_WORDS);
  if (words.length === 0) return `${label}: no word with a sentiment`;
  return `${label}: ${words.map(({ word, score }) => `${word} (${score > 0 ? '+' : ''}${score})`).join(', ')}`;
}

/** The explanation cut into tokens as a language model would stream them: each word with the space before it. */
export function tokens(explanation: string): string[] {
  return explanation.match(/\s*\S+/g) ?? [];
}

export function isModelVersion(value: unknown): value is ModelVersion {
  return value === 'v1' || value === 'v2';
}
