/** Where records go: the interface every sink (a log file, the app's logger) implements, and what they share. A leaf. */
import type { ShadowLogRecord, SinkStats } from '../types.js';

/**
 * 16 MiB: about 10 000 typical records (1–2 KiB with bodies cut at 64 KiB), several seconds of a stalled disk at a
 * busy service's record rate, and still a quarter of the default `maxQueuedBytes`, so a stuck log never costs more
 * memory than the mirroring it records.
 */
export const DEFAULT_MAX_PENDING_LOG_BYTES = 16 * 1_048_576;
/** The code of the warning a sink emits when it cannot write. */
export const WARNING_CODE = 'EXPRESS_SHADOW_LOG';
/** The code of the warning a log file emits when it drops records because too many bytes wait for the disk. */
export const BACKPRESSURE_WARNING_CODE = 'EXPRESS_SHADOW_LOG_BACKPRESSURE';

export interface RecordSink {
  /** Serialises the record once and queues it; never throws. */
  write(record: ShadowLogRecord): void;
  /** After rotation (logrotate `create` mode): new records go to a new file at the path. No-op for app loggers. */
  reopen(): void;
  /**
   * Starts writing what was written so far, now rather than with the lines to come (a hook that may block this thread
   * is about to run). Never throws. No-op for app loggers.
   */
  hurry(): void;
  /** Resolves when everything written so far has reached the file (or was dropped). */
  flush(): Promise<void>;
  /** Releases this sink; the last sink of a file flushes and closes it. Always resolves within `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
  stats(): SinkStats;
}
