/** The floor's engine (see index.js): one undici Pool, three JSON lines per request, one fs.write per turn. */
import { randomUUID } from 'node:crypto';
import { openSync, write } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

const { target, logFile } = workerData;
const pool = new Pool(target, { connections: 32, pipelining: 1 });
const fd = openSync(logFile, 'a');
const decoder = new TextDecoder();
let lines = [];
let scheduled = false;
let mirrored = 0;
let inFlight = 0;

const flush = () => {
  scheduled = false;
  const text = lines.join('');
  lines = [];
  write(fd, text, () => {});
};

function line(record) {
  lines.push(JSON.stringify(record) + '\n');
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (!equal(a[key], b[key])) return false;
  return true;
}

async function mirror(exchange) {
  const requestId = randomUUID();
  const started = performance.now();
  const production = parse(decoder.decode(exchange.answer));
  line({ type: 'production', requestId, timestamp: new Date().toISOString(), method: exchange.method, path: exchange.url, status: exchange.status, body: production });
  try {
    const body = Buffer.from(exchange.body.buffer, exchange.body.byteOffset, exchange.body.length);
    const answer = await pool.request({ path: exchange.url, method: exchange.method, headers: { 'content-type': exchange.type }, body });
    const shadow = parse(await answer.body.text());
    const durationMs = performance.now() - started;
    line({ type: 'shadow', requestId, timestamp: new Date().toISOString(), status: answer.statusCode, durationMs, body: shadow });
    line({ type: 'comparison', requestId, timestamp: new Date().toISOString(), match: equal(production, shadow) });
  } catch (error) {
    line({ type: 'shadow', requestId, timestamp: new Date().toISOString(), error: String(error) });
  }
  mirrored++;
}

parentPort.on('message', (message) => {
  if (message === 'idle') {
    const answerWhenIdle = () => (inFlight === 0 ? parentPort.postMessage(mirrored) : setTimeout(answerWhenIdle, 5));
    answerWhenIdle();
    return;
  }
  for (const exchange of message) {
    inFlight++;
    void mirror(exchange).finally(() => inFlight--);
  }
});
