/**
 * Where records go: one JSON object per line through winston. Each record is a fresh object built by us,
 * serialised once; nothing the app owns is handed to the logger (winston adds fields to what it is given).
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';
import type { ShadowLogRecord } from './types.js';

export interface RecordSink {
  write(record: ShadowLogRecord): void;
  /** Resolves once what was written so far has reached the file. */
  flush?(): Promise<void>;
  /** Opens the file again (after rotation). */
  reopen?(): void;
  /** Flushes, and closes the transports we opened (never a logger the app passed in). */
  close(): Promise<void>;
}

export function createRecordSink(logger: winston.Logger | undefined, logFile: string): RecordSink {
  return logger ? appLoggerSink(logger) : fileSink(logFile);
}

function fileSink(filename: string): RecordSink {
  mkdirSync(dirname(filename), { recursive: true });
  // winston's Stream transport over a file stream of our own rather than its File transport: under write pressure
  // the File transport defers lines and can write one after end(), an unhandled 'write after end' that took the
  // whole app down when close() came under load (seen in bench/, 2 runs of 5).
  const file = createWriteStream(filename, { flags: 'a' });
  const transport = new winston.transports.Stream({ stream: file, eol: '\n' });
  const logger = winston.createLogger({
    level: 'info',
    exitOnError: false,
    // The record is already one line of JSON: write it as it is.
    format: winston.format.printf((info) => info.message as string),
    transports: [transport],
  });
  // A failing disk must not become an unhandled 'error' event in the app.
  logger.on('error', () => {});
  transport.on('error', () => {});
  file.on('error', () => {});
  return {
    write(record) {
      logger.info(JSON.stringify(record));
    },
    async flush() {
      // winston hands lines on synchronously unless back-pressured; a write's callback runs after every earlier write.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (file.writable) await new Promise<void>((resolve) => file.write('', () => resolve()));
    },
    close() {
      return new Promise<void>((resolve) => {
        // Every line has reached the file stream once the transport finishes; it is on disk once the file closes.
        transport.once('finish', () => {
          file.once('close', () => resolve());
          file.end();
        });
        logger.end();
      });
    },
  };
}

function appLoggerSink(logger: winston.Logger): RecordSink {
  return {
    write(record) {
      logger.log({ level: 'info', message: 'express-shadow', ...record });
    },
    async close() {},
  };
}
