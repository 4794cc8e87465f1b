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

export interface Model {
  version: ModelVersion;
  /** What the model is, for people. */
  description: string;
  predict(text: string): Prediction;
}

export const MODELS: Record<ModelVersion, Model> = {
  v1: {
    version: 'v1',
    description: `${V1_MODEL} (AFINN-165)`,
    predict(text) {
      // `comparative` is the mean word score per token, -5..+5.
      const score = round(clamp(afinn.analyze(text).comparative / 5));
      return { label: labelFor(score), score, model: V1_MODEL, version: 'v1' };
    },
  },
  v2: {
    version: 'v2',
    description: `${V2_MODEL} (AFINN-165 + bigrams, emojis, negation)`,
    predict(text) {
      // `normalizedScore` is documented as always within -5..+5.
      const score = round(clamp(winkSentiment(text).normalizedScore / 5));
      return { label: labelFor(score), score, model: V2_MODEL, version: 'v2' };
    },
  },
};

export function isModelVersion(value: unknown): value is ModelVersion {
  return value === 'v1' || value === 'v2';
}
