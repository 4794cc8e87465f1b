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
 * `explain` is the demo's generative model: the label and the words that drove it, as a sentence worded one of several
 * ways and streamed token by token (`POST /generate`), the way an LLM answers.
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
 * The wordings the models sample from, as a language model at a temperature above 0 does: the same content (the label
 * and the words that drove it), said one of several ways. Each model server picks one per text (`wordingDraw`).
 */
const WORDINGS: ((label: string, words: string) => string)[] = [
  (label, words) => `This review is ${label}, mostly because of ${words}.`,
  (label, words) => `This review is ${label}: ${words} set its tone.`,
  (label, words) => `Mostly because of ${words}, this review is ${label}.`,
  (label, words) => `${words[0]!.toUpperCase()}${words.slice(1)} made this review ${label}.`,
];
/** When no word carries a sentiment. */
const PLAIN_WORDINGS: ((label: string) => string)[] = [
  (label) => `This review is ${label}: none of its words carries a sentiment.`,
  (label) => `None of the words in this review carries a sentiment, so it is ${label}.`,
  (label) => `This review is ${label}, since none of its words carries a sentiment.`,
  (label) => `No word in this review carries a sentiment: it is ${label}.`,
];

/**
 * PLANTED FLAW of v2's streaming model, for the similarity criterion to catch: on three texts in ten (fixed by a
 * hash of the text) it answers something genuinely wrong, about another text altogether.
 */
const WRONG_ANSWERS = [
  'A refund was issued yesterday for the late parcel.',
  'Our store opens at nine and closes at five on weekdays.',
  'Sorry, I cannot help with that request right now.',
];
export const PLANTED_WRONG_SHARE = 0.3;

function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Whether v2's `/generate` answers this text wrongly (three in ten, the same ones on every run). */
export function isPlantedWrong(text: string): boolean {
  return hashOf(text) % 100 < PLANTED_WRONG_SHARE * 100;
}

/**
 * The wording a model at temperature > 0 would pick for `text`: drawn from `seed` and the text, so a model server
 * (one seed) words a text the same way on every run, and another server of the same model (another seed) its own way.
 */
export function wordingDraw(seed: number, text: string): () => number {
  let state = hashOf(`${seed}\u0000${text}`) || 1;
  return () => {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
}

/**
 * The "small generative model" of `POST /generate`: a sentence explaining the prediction, generated token by token,
 * e.g. `This review is negative, mostly because of the words terrible and awful.`, worded one of several ways
 * (`random` picks). v2 words it the same ways, but answers a planted three in ten wrongly.
 */
export function explain(model: Model, text: string, random: () => number = Math.random): string {
  if (model.version === 'v2' && isPlantedWrong(text)) return WRONG_ANSWERS[hashOf(text) % WRONG_ANSWERS.length]!;
  const { label } = model.predict(text);
  const found = [...new Set(model.evidence(text).map((e) => e.word))].slice(0, EXPLANATION_WORDS);
  if (found.length === 0) return PLAIN_WORDINGS[Math.floor(random() * PLAIN_WORDINGS.length)]!(label);
  const words = found.length === 1 ? `the word ${found[0]!}` : `the words ${found.slice(0, -1).join(', ')} and ${found.at(-1)!}`;
  return WORDINGS[Math.floor(random() * WORDINGS.length)]!(label, words);
}

/** The explanation cut into tokens as a language model would stream them: each word with the space before it. */
export function tokens(explanation: string): string[] {
  return explanation.match(/\s*\S+/g) ?? [];
}

export function isModelVersion(value: unknown): value is ModelVersion {
  return value === 'v1' || value === 'v2';
}
