/**
 * The events of a streamed answer, as comparison sees them: each SSE event's data (multi-line data joined, comments
 * and other fields ignored, any line ending), each non-empty JSON line, and the last event even when the answer was
 * cut off before its blank line.
 */
import { describe, expect, it } from 'vitest';
import { concatenatePayloads, eventPayloads } from '../lib/engine/stream-events.js';

describe('stream events', () => {
  it.each([
    ['one event per blank line', 'data: a\n\ndata: b\n\n', ['a', 'b']],
    ['multi-line data joined with \\n', 'data: b\ndata: c\n\n', ['b\nc']],
    ['comments and other fields ignored', ': keep-alive\nevent: delta\nid: 7\ndata: x\n\n', ['x']],
    ['CRLF and CR line endings', 'data: a\r\n\r\ndata: b\r\rdata: c\n\n', ['a', 'b', 'c']],
    ['an event with empty data', 'data:\n\n', ['']],
    ['the last event of an answer cut off before its blank line', 'data: a\n\ndata: tail', ['a', 'tail']],
  ])('SSE: %s', (_name, text, expected) => {
    expect(eventPayloads(text, 'sse')).toEqual(expected);
  });

  it('JSON lines: each non-empty line', () => {
    expect(eventPayloads('{"a":1}\n\n  \r\n{"b":2}', 'jsonl')).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('assembles the output without OpenAI\'s [DONE] terminator', () => {
    expect(concatenatePayloads(eventPayloads('data: Hel\n\ndata: lo\n\ndata: [DONE]\n\n', 'sse'))).toBe('Hello');
  });
});
