/**
 * Records written to a logger the app passed in: winston, pino, or any object with `write(record)`.
 * The app owns that logger: we never close it, and a logger that throws costs a counted record, never the app.
 */
import { ShadowOptionsError, showValue } from '../errors.js';
import type { SinkStats } from '../types.js';
import { DEFAULT_MAX_PENDING_LOG_BYTES, WARNING_CODE } from './sink-types.js';
import type { RecordSink } from './sink-types.js';
import { withTimeout } from '../timeout.js';

/** What the `logger` option accepts, told apart by shape (none of them is imported). */
type LoggerKind = 'winston' | 'pino' | 'writer';

type Method = (...args: unknown[]) => unknown;
type Loggerish = Record<string, unknown> & { writableObjectMode?: unknown; writableLength?: unknown };

/** winston has `log()`; pino has `info()` and a `levels` table but no `log()`; anything else needs `write()`. */
function loggerKind(value: unknown): LoggerKind | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const logger = value as Loggerish;
  if (typeof logger.log === 'function') return 'winston';
  if (typeof logger.info === 'function' && typeof logger.levels === 'object' && logger.levels !== null) return 'pino';
  if (typeof logger.write === 'function') return 'writer';
  return undefined;
}

const ACCEPTED_LOGGERS =
  'must be a winston logger, a pino logger, or an object with a write(record) method (a Node byte stream such as process.stdout gets one JSON line per record)';

/** Throws the option error for anything `loggerKind` does not recognise. */
export function validateLogger(value: unknown): LoggerKind {
  const kind = loggerKind(value);
  if (!kind) throw new ShadowOptionsError('logger', `${ACCEPTED_LOGGERS}, got ${showValue(value)}`);
  return kind;
}

/** How one record is handed to each kind of logger. */
function deliverer(kind: LoggerKind, logger: Loggerish): (record: object) => 'ok' | 'backpressure' {
  if (kind === 'winston') {
    const log = logger.log as Method;
    // A copy: winston adds `level` and symbols to the object it is given.
    return (record) => (log.call(logger, { level: 'info', message: 'express-shadow', ...record }), 'ok');
  }
  if (kind === 'pino') {
    const info = logger.info as Method;
    return (record) => (info.call(logger, record, 'express-shadow'), 'ok');
  }
  const write = logger.write as Method;
  if (logger.writableObjectMode === false) {
    // A byte stream: one JSON line per record, and its own buffer bounded like our file's.
    return (record) => {
      if (typeof logger.writableLength === 'number' && logger.writableLength > DEFAULT_MAX_PENDING_LOG_BYTES) return 'backpressure';
      write.call(logger, `${JSON.stringify(record)}\n`);
      return 'ok';
    };
  }
  return (record) => (write.call(logger, record), 'ok');
}

/** pino buffers in sonic-boom and offers `flush(cb)`; winston and plain writers give no way to wait. */
function flusher(kind: LoggerKind, logger: Loggerish): () => Promise<void> {
  const flush = logger.flush;
  if (kind !== 'pino' || typeof flush !== 'function') return () => Promise.resolve();
  return () =>
    new Promise<void>((resolve) => {
      try {
        (flush as Method).call(logger, () => resolve());
      } catch {
        resolve();
      }
    });
}

export function appLoggerSink(logger: unknown): RecordSink {
  const kind = validateLogger(logger);
  const deliver = deliverer(kind, logger as Loggerish);
  const flush = flusher(kind, logger as Loggerish);
  const stats: SinkStats = { written: 0, dropped: {}, pendingBytes: 0, failing: false };
  let closed = false;
  const drop = (reason: string) => (stats.dropped[reason] = (stats.dropped[reason] ?? 0) + 1);

  return {
    write(record) {
      if (closed) return void drop('closed');
      try {
        if (deliver(record) === 'backpressure') return void drop('backpressure');
        stats.written++;
        stats.failing = false;
      } catch (error) {
        drop('logger_error');
        if (stats.failing) return;
        stats.failing = true;
        process.emitWarning(
          `express-shadow: the logger passed in threw (${error instanceof Error ? error.message : showValue(error)}); records are dropped and counted in stats().log.dropped.logger_error until it accepts one again`,
          { code: WARNING_CODE },
        );
      }
    },
    reopen() {},
    hurry() {},
    flush,
    close(timeoutMs) {
      closed = true;
      return withTimeout(flush(), timeoutMs).then(() => {});
    },
    stats: () => ({ ...stats, dropped: { ...stats.dropped } }),
  };
}
