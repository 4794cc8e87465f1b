/**
 * Streamed answers (LLM token streams and the like): the events in a captured body and the output they assemble
 * to, which is what gets compared. Pure functions over bytes already captured; nothing here touches a stream.
 */

export type StreamFormat = 'sse' | 'jsonl';

/** The event format of a content type, if it has one. */
export function streamFormatOf(contentType: string | undefined): StreamFormat | undefined {
  if (!contentType) return undefined;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'text/event-stream') return 'sse';
  if (type === 'application/x-ndjson' || type === 'application/jsonl' || type === 'application/jsonlines' || type === 'application/json-seq') return 'jsonl';
  return undefined;
}

/**
 * The payloads of a body's events: for SSE the `data:` of each event (multi-line data joined with `\n`,
 * comments and other fields ignored, an unterminated last event kept); for JSON lines each non-empty line.
 */
export function eventPayloads(text: string, format: StreamFormat): string[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (format === 'jsonl') return lines.filter((line) => line.trim().length > 0);
  const payloads: string[] = [];
  let data: string[] | undefined;
  for (const line of lines) {
    if (line === '') {
      if (data) payloads.push(data.join('\n'));
      data = undefined;
    } else if (line.startsWith('data:')) {
      (data ??= []).push(line.slice(line[5] === ' ' ? 6 : 5));
    } else if (line === 'data') {
      (data ??= []).push('');
    }
  }
  if (data) payloads.push(data.join('\n'));
  return payloads;
}

/** The default assembly: payloads concatenated, minus OpenAI's `[DONE]` terminator. */
export function concatenatePayloads(payloads: string[]): string {
  return payloads.filter((payload) => payload !== '[DONE]').join('');
}
