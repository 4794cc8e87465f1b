import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHUNK_BYTES } from '../lib/read/chunk-input.js';
import { LineSource } from '../lib/read/line-source.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-lines-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Line {
  text: string;
  number: number;
  unterminated: boolean;
  tooLong: boolean;
}

/** Every line of a source, read as text or as bytes (decoded here), with its flags. */
async function linesOf(source: LineSource, bytes: boolean): Promise<Line[]> {
  if (bytes) source.useBytes();
  const lines: Line[] = [];
  for (;;) {
    await source.fill();
    if (source.done) return lines;
    for (;;) {
      let text: string | undefined;
      if (bytes) text = source.nextBytes() ? source.bytes.toString('utf8', source.start, source.end) : undefined;
      else text = source.nextLine();
      if (text === undefined) break;
      lines.push({ text, number: source.lineNumber, unterminated: source.lastLineUnterminated, tooLong: source.lastLineTooLong });
    }
  }
}

async function readFileBoth(content: Buffer, maxLineLength: number): Promise<{ text: Line[]; bytes: Line[] }> {
  const path = join(dir, 'log');
  await writeFile(path, content);
  return {
    text: await linesOf(await LineSource.open(path, 'log', maxLineLength), false),
    bytes: await linesOf(await LineSource.open(path, 'log', maxLineLength), true),
  };
}

/** Lines whose ends fall on, just before and just after chunk boundaries, one across several chunks, multi-byte text. */
function awkwardLines(): string[] {
  const lines: string[] = [];
  let length = 0;
  const add = (line: string): void => {
    lines.push(line);
    length += Buffer.byteLength(line) + 1;
  };
  add('first');
  // Ends exactly at the end of the first chunk (the newline is its last byte).
  add('a'.repeat(CHUNK_BYTES - length - 1));
  add('é'.repeat(1000) + '→ straddles with multi-byte characters ' + 'ü'.repeat(CHUNK_BYTES / 2));
  add('x'.repeat(2 * CHUNK_BYTES + 17));
  add('');
  add('\r');
  add('short after long');
  return lines;
}

describe('LineSource: lines across chunks, as text and as bytes', () => {
  it('gives the same lines, numbers and flags in text and byte mode, whatever falls on a chunk boundary', async () => {
    const lines = awkwardLines();
    const { text, bytes } = await readFileBoth(Buffer.from(lines.join('\n') + '\n'), 16 * 1024 * 1024);
    expect(text.map((l) => l.text)).toEqual(lines);
    expect(bytes).toEqual(text);
    expect(text.every((l) => !l.tooLong && !l.unterminated)).toBe(true);
  });

  it('marks the unterminated last line, also when it straddles chunks, in both modes', async () => {
    const lines = awkwardLines();
    lines.push('y'.repeat(CHUNK_BYTES + 5));
    const { text, bytes } = await readFileBoth(Buffer.from(lines.join('\n')), 16 * 1024 * 1024);
    expect(text.map((l) => l.text)).toEqual(lines);
    expect(bytes).toEqual(text);
    expect(text.map((l) => l.unterminated)).toEqual(lines.map((_, i) => i === lines.length - 1));
  });

  it('cuts a line over maxLineLength to its start, in one chunk or carried over several, and reads on', async () => {
    const max = 1000;
    const lines = ['before', 'l'.repeat(max + 1), 'c'.repeat(3 * CHUNK_BYTES), 'after', 'u'.repeat(CHUNK_BYTES + 9)];
    const { text, bytes } = await readFileBoth(Buffer.from(lines.join('\n')), max);
    expect(text.map((l) => l.tooLong)).toEqual([false, true, true, false, true]);
    expect(bytes.map((l) => l.tooLong)).toEqual([false, true, true, false, true]);
    expect(text.map((l) => l.number)).toEqual([1, 2, 3, 4, 5]);
    expect(text[2]?.text).toBe('c'.repeat(120));
    expect(text[3]?.text).toBe('after');
    expect(bytes[3]?.text).toBe('after');
    expect(text[4]?.unterminated).toBe(true);
    expect(bytes[4]?.unterminated).toBe(true);
  });

  it('reads gzip and a stream that hands over one byte at a time the same as the plain file', async () => {
    const lines = awkwardLines();
    const content = Buffer.from(lines.join('\n') + '\n');
    const plain = await readFileBoth(content, 16 * 1024 * 1024);
    const gzip = await readFileBoth(gzipSync(content), 16 * 1024 * 1024);
    expect(gzip.text).toEqual(plain.text);
    expect(gzip.bytes).toEqual(plain.text);
    const small = Buffer.from('{"a":1}\n\n{"b":"é"}\nlast');
    const trickle = Readable.from((function* () {
      for (const byte of small) yield Buffer.from([byte]);
    })());
    const streamed = await linesOf(LineSource.fromStream(trickle, '-', 1000), true);
    expect(streamed.map((l) => l.text)).toEqual(['{"a":1}', '', '{"b":"é"}', 'last']);
    expect(streamed.map((l) => l.unterminated)).toEqual([false, false, false, true]);
  });
});
