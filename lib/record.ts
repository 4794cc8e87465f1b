/**
 * Where records go: one JSON object per line through winston. Each record is a fresh object built by us,
 * serialised once; nothing the app owns is handed to the logger (winston adds fields to what it is given).
 */
import winston from 'winston';
import type { ShadowLogRecord } from './types.js';

export interface RecordSink {
  write(record: ShadowLogRecord): void;
  /** Flushes, and closes the transports we opened (never a logger the app passed in). */
  close(): Promise<void>;
}

export function createRecordSink(logger: winston.Logger | undefined, logFile: string): RecordSink {
  return logger ? appLoggerSink(logger) : fileSink(logFile);
}

function fileSink(filename: string): RecordSink {
  const transport = new winston.transports.File({ filename });
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
  return {
    write(record) {
      logger.info(JSON.stringify(record));
    },
    close() {
      return new Promise<void>((resolve) => {
        // The file transport's 'finish' comes once its stream has flushed; the logger's own can come earlier.
        transport.once('finish', () => resolve());
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
