/**
 * For the tests of log files and the targets a log can be (test/sink.test.ts, test/log-targets.test.ts, the engine's
 * exit tests): numbered records, what a file holds of them, FIFOs and a reader we control. Whatever opens something
 * registers its closing on the test file's cleanup list (`testScope().cleanups`).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { openFileSink } from '../lib/engine/sink.js';
import type { RecordSink } from '../lib/engine/sink-types.js';
import type { ShadowLogRecord } from '../lib/index.js';
import { tempDir } from './helpers.js';

/** A record of about `padding` bytes, numbered so a test can tell which ones arrived. */
export function record(seq: number, padding = 0): ShadowLogRecord {
  return { type: 'summary', timestamp: '2026-01-01T00:00:00.000Z', intervalMs: 0, seen: seq, mirrored: 0, notMirrored: {}, pad: 'x'.repeat(padding) } as unknown as ShadowLogRecord;
}

/** The sequence numbers in a log file; fails the test on any line that is not a whole record. */
export async function seqsIn(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { seen: number }).seen);
}

/** A FIFO in a new temporary folder. */
export async function makeFifo(): Promise<string> {
  const file = path.join(await tempDir(), 'shadow.fifo');
  execFileSync('mkfifo', [file]);
  return file;
}

interface FifoReader {
  fifo: string;
  /** Everything read so far, as text. */
  text(): string;
  /** The lines read so far. */
  lines(): string[];
  /** Starts reading and keeps reading everything that arrives. */
  resume(): void;
  close(): void;
}

/** The helpers that register what they open on `cleanups`, to be closed after each test. */
export function logTargetKit(cleanups: (() => unknown)[]) {
  return {
    /** A file sink, closed (1 s at most) after the test. */
    sink(file: string, options: Parameters<typeof openFileSink>[1] = {}): RecordSink {
      const opened = openFileSink(file, options);
      cleanups.push(() => opened.close(1000));
      return opened;
    },

    /** Warnings of ours (by code) emitted from now on. */
    collectWarnings(code: string): Error[] {
      const warnings: Error[] = [];
      const listener = (warning: Error) => {
        if ((warning as Error & { code?: string }).code === code) warnings.push(warning);
      };
      process.on('warning', listener);
      cleanups.push(() => process.off('warning', listener));
      return warnings;
    },

    /** A FIFO and a reader we control: opened read-write so it never sees end-of-file, paused until `resume()`. */
    async fifoWithReader(): Promise<FifoReader> {
      const fifo = await makeFifo();
      const fd = openSync(fifo, 'r+');
      let socket: net.Socket | undefined;
      let received = '';
      const reader: FifoReader = {
        fifo,
        text: () => received,
        lines: () => received.split('\n').filter(Boolean),
        resume() {
          socket = new net.Socket({ fd, readable: true, writable: false });
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => (received += chunk));
        },
        close() {
          if (socket) socket.destroy();
          else closeSync(fd);
        },
      };
      // The reader goes last: sinks are closed first, while it can still take their bytes.
      cleanups.unshift(() => reader.close());
      return reader;
    },
  };
}
