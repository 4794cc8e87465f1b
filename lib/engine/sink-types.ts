/** Where records go: the interface every sink (a log file, the app's logger) implements. A leaf. */
import type { ShadowLogRecord, SinkStats } from '../types.js';

export interface RecordSink {
  /** Serialises the record once and queues it; never throws. */
  write(record: ShadowLogRecord): void;
  /** After rotation (logrotate `create` mode): new records go to a new file at the path. No-op for app loggers. */
  reopen(): void;
  /** Resolves when everything written so far has reached the file (or was dropped). */
  flush(): Promise<void>;
  /** Releases this sink; the last sink of a file flushes and closes it. Always resolves within `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
  stats(): SinkStats;
}
