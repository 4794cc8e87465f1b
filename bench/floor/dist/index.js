/**
 * The floor: the bare pipeline issue 20 sketched, as a middleware the team's tools and `bench/engine-threads.mjs`
 * can load in place of the product (they import `dist/index.js` from their working directory). A tap copies the
 * request and response bytes and hands them to one worker in one postMessage per turn, the buffers transferred; the
 * worker calls the shadow through an undici Pool, parses both JSON answers, compares them and writes three JSON
 * lines per request, one fs.write per turn. No redaction, limits, breaker, lag, ids kept from the client, bodies
 * of other types, hooks, metrics, accounting of lost records or closing: it only shows what the design costs before
 * any of what the product does. Run from this directory after `npm ci` in the project's root:
 *   node ../engine-threads.mjs      (per thread, plain app vs app with the floor, alternating)
 *   node ../engine-cost.mjs         (also ../latency-honesty.mjs, ../idle-rss.mjs)
 */
import { Worker } from 'node:worker_threads';

export function shadowMiddleware({ target, logFile }) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { target, logFile } });
  let batch = [];
  let transfer = [];
  let scheduled = false;
  let mirrored = 0;
  const flush = () => {
    scheduled = false;
    worker.postMessage(batch, transfer);
    batch = [];
    transfer = [];
  };
  const middleware = (req, res, next) => {
    const requestChunks = [];
    const push = req.push;
    req.push = function (chunk, encoding) {
      if (chunk) requestChunks.push(chunk);
      return push.call(this, chunk, encoding);
    };
    const responseChunks = [];
    const { write, end } = res;
    const keep = (chunk) => {
      if (chunk && typeof chunk !== 'function') responseChunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    };
    res.write = function (chunk, a, b) {
      keep(chunk);
      return write.call(this, chunk, a, b);
    };
    res.end = function (chunk, a, b) {
      keep(chunk);
      return end.call(this, chunk, a, b);
    };
    res.once('finish', () => {
      const body = concat(requestChunks);
      const answer = concat(responseChunks);
      batch.push({ method: req.method, url: req.originalUrl, type: req.headers['content-type'], body, status: res.statusCode, answer });
      transfer.push(body.buffer, answer.buffer);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    next();
  };
  // The worker answers 'idle' with the count mirrored so far, once nothing is in flight.
  const whenIdle = () =>
    new Promise((resolve) => {
      worker.once('message', (count) => {
        mirrored = count;
        resolve();
      });
      worker.postMessage('idle');
    });
  middleware.whenIdle = whenIdle;
  middleware.close = () => whenIdle().then(() => worker.terminate()).then(() => {});
  middleware.stats = () => ({ mirrored });
  return middleware;
}

/** The chunks in one buffer of its own, so it can be transferred. */
function concat(chunks) {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
