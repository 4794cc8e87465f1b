/**
 * Production's answer as the comparator sees it, rebuilt from its logged record (the only answer we have).
 */
import { isJsonContentType } from '../engine/logged-body.js';
import { headerString } from '../engine/answers.js';
import type { ComparedAnswer, ProductionRecord } from '../types.js';
import type { NotReplayableReason } from './types.js';

type LoggedAnswer = { ok: true; answer: ComparedAnswer } | { ok: false; reason: NotReplayableReason };

export function loggedProductionAnswer(record: ProductionRecord): LoggedAnswer {
  const response = record.response;
  const headers = response.headers ?? {};
  const base = { status: record.status, headers };
  if (response.truncated) return { ok: false, reason: 'production_answer_truncated' };
  // A streamed answer is compared on its assembled output, as the middleware does.
  const assembled = response.stream?.assembled;
  if (assembled !== undefined) return { ok: true, answer: { ...base, ...textAnswer(assembled, true) } };
  if (response.body === undefined) {
    if (response.bodySha256 !== undefined) return { ok: false, reason: 'production_answer_not_logged' };
    return { ok: true, answer: { ...base, isJson: false, bytes: Buffer.alloc(0) } };
  }
  if (response.bodySha256 !== undefined) return { ok: false, reason: 'production_answer_not_logged' };
  if (response.bodyEncoding === 'base64') return { ok: true, answer: { ...base, isJson: false, bytes: Buffer.from(String(response.body), 'base64') } };
  if (response.bodyEncoding === 'multipart') return { ok: false, reason: 'production_answer_not_logged' };
  const jsonType = isJsonContentType(headerString(headers['content-type']));
  if (typeof response.body === 'string' && !jsonType) return { ok: true, answer: { ...base, isJson: false, bytes: Buffer.from(response.body, 'utf8') } };
  return { ok: true, answer: { ...base, isJson: true, json: response.body, bytes: Buffer.from(JSON.stringify(response.body), 'utf8') } };
}

function textAnswer(text: string, tryJson: boolean): Pick<ComparedAnswer, 'isJson' | 'json' | 'bytes'> {
  const bytes = Buffer.from(text, 'utf8');
  if (tryJson) {
    try {
      return { isJson: true, json: JSON.parse(text), bytes };
    } catch {
      // Assembled text that is not JSON is compared as text.
    }
  }
  return { isJson: false, bytes };
}
