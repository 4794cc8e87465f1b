export { readShadowLog } from './read-shadow-log.js';
export { ShadowLogReadError } from './types.js';
export type {
  AggregateRecord,
  BadLineExample,
  EntryClosedBy,
  FileReadStats,
  OrphanKind,
  ReadProgress,
  ReadShadowLogOptions,
  ReadStats,
  ShadowLogEntry,
  ShadowLogReader,
  ShadowLogReadErrorCode,
} from './types.js';
