/**
 * Types for the two sentiment packages the demo's model servers wrap; neither ships its own.
 * Only what the demo uses is declared.
 */
declare module 'sentiment' {
  interface AnalysisResult {
    /** Sum of the AFINN-165 scores of the words found (each from -5 to +5, negated after "not", "don't", ...). */
    score: number;
    /** `score` divided by the number of tokens. */
    comparative: number;
    /** One `{ word: score }` per scored word, last word first (scores already negated). */
    calculation: Record<string, number>[];
    tokens: string[];
    words: string[];
    positive: string[];
    negative: string[];
  }
  class Sentiment {
    analyze(phrase: string): AnalysisResult;
  }
  export = Sentiment;
}

declare module 'wink-sentiment' {
  interface WinkToken {
    value: string;
    /** `word`, `punctuation`, `emoji`, `emoticon`, `hashtag`, ... */
    tag: string;
    /** The token's score (negation applied); absent for tokens with none. */
    score?: number;
    /** The token starts a scored phrase of this many further tokens ("fed up": `grouped: 1` on "fed"). */
    grouped?: number;
    negation?: boolean;
  }
  interface WinkResult {
    /** Sum of the scores of words, bigrams, emojis, emoticons and hashtags found. */
    score: number;
    /** Average score per scored token, adjusted for length; always between -5 and +5. */
    normalizedScore: number;
    tokenizedPhrase: WinkToken[];
  }
  function sentiment(phrase: string): WinkResult;
  export = sentiment;
}
