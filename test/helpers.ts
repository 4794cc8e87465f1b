/**
 * Test harness: real servers on 127.0.0.1, a shadow that records what it receives, log files read back as JSON.
 */
import { EventEmitter, once } from 'node:events';
import { watch } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import express from 'express';
import express4 from 'express4';
import { afterAll, beforeEach, expect } from 'vitest';
import winston from 'winston';
import { shadowMiddleware, type ShadowLogRecord, type ShadowMiddleware, type ShadowOptions, type ShadowSettings } from '../lib/index.js';
// The in-thread engine is imported on first use (lib/tap/engine-link.ts). Here the sources are transformed as they
// load, which on a loaded machine can take seconds: load it with the test file, so no test's close() timeout pays it.
import '../lib/engine/host.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

type ShadowHandler = (req: ReceivedRequest, res: http.ServerResponse) => void;

export interface RecordingServer {
  url: string;
  port: number;
  received: ReceivedRequest[];
  /** Resolves once `count` requests have been received in full. */
  waitFor(count: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that records every request and answers with `handler` (default: 200 JSON echo). */
export async function startShadowServer(handler?: ShadowHandler): Promise<RecordingServer> {
  const received: ReceivedRequest[] = [];
  const waiters: { count: number; resolve: (r: ReceivedRequest[]) => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
      };
      received.push(entry);
      for (const waiter of [...waiters]) {
        if (received.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(received.slice());
        }
      }
      if (handler) handler(entry, res);
      else {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ label: 'positive', model: 'shadow' }));
      }
    });
  });
  return listen<Omit<RecordingServer, 'url' | 'port' | 'close'>>(server, {
    received,
    waitFor(count) {
      if (received.length >= count) return Promise.resolve(received.slice());
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  });
}

/** Listens on 127.0.0.1:0 and returns the server's URL and a close() that also drops idle keep-alive sockets. */
export async function listen<T extends object>(server: http.Server, extra: T): Promise<T & { url: string; port: number; close(): Promise<void> }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(extra, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'express-shadow-test-'));
  madeDirs.push(dir);
  return dir;
}

/** The directories tempDir() made in this test file, removed once it has run (every run used to leave them all). */
const madeDirs: string[] = [];
afterAll(async () => {
  const dirs = madeDirs.splice(0);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {})));
});

export async function tempLogFile(): Promise<string> {
  return path.join(await tempDir(), 'shadow.log');
}

/** Every line of a JSON-lines log, parsed. Fails the test on a line that is not JSON. */
export async function readRecords(file: string): Promise<ShadowLogRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ShadowLogRecord);
}

/**
 * Resolves once `check` holds for the records of a log file another process writes: checked now and on every change
 * fs.watch reports in the file's folder (the file may not exist yet).
 */
export function waitForRecords(file: string, check: (records: ShadowLogRecord[]) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let reading = false;
    let changedMeanwhile = false;
    const test = async (): Promise<void> => {
      if (reading) {
        changedMeanwhile = true;
        return;
      }
      reading = true;
      try {
        do {
          changedMeanwhile = false;
          // A line being written may be cut at the end: only whole lines are read.
          const text = await readFile(file, 'utf8').catch(() => '');
          const records = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as ShadowLogRecord);
          if (check(records)) {
            watcher.close();
            resolve();
            return;
          }
        } while (changedMeanwhile);
      } catch (error) {
        watcher.close();
        reject(error as Error);
      } finally {
        reading = false;
      }
    };
    const watcher = watch(path.dirname(file), () => void test());
    void test();
  });
}

export function recordsOfType<T extends ShadowLogRecord['type']>(records: ShadowLogRecord[], type: T): Extract<ShadowLogRecord, { type: T }>[] {
  return records.filter((record): record is Extract<ShadowLogRecord, { type: T }> => record.type === type);
}

/** A port on 127.0.0.1 with nothing listening: connections are refused. */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  const { url, close } = await listen(server, {});
  await close();
  return url;
}

/** Serves an app (anything `http.createServer` takes) on 127.0.0.1. */
export async function serve(app: http.RequestListener) {
  return listen(http.createServer(app), {});
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with exactly the given bytes and headers (no client-side serialisation). */
export function sendRaw(url: string, options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + (options.path ?? '/'), { method: options.method ?? 'POST', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A promise with its resolve function outside: an event a test can await. */
interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export interface MemoryLog {
  logger: winston.Logger;
  /** Every record written so far, in order, without winston's own fields. */
  records: ShadowLogRecord[];
  /** Resolves once `count` records of `type` have been written. */
  waitFor<T extends ShadowLogRecord['type']>(type: T, count?: number): Promise<Extract<ShadowLogRecord, { type: T }>[]>;
  /** Resolves once `check(records)` holds (checked now and after every record). */
  waitUntil(check: (records: ShadowLogRecord[]) => boolean): Promise<void>;
  /** Called synchronously for every record as it is written. */
  onRecord?: (record: ShadowLogRecord) => void;
}

/** A winston logger that keeps records in memory, so a test can await "the shadow record was written". */
export function memoryLog(): MemoryLog {
  const records: ShadowLogRecord[] = [];
  const waiters: { check: () => boolean; resolve: () => void }[] = [];
  const waitUntil = (check: () => boolean): Promise<void> => {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => waiters.push({ check, resolve }));
  };
  const log: MemoryLog = {
    logger: undefined as unknown as winston.Logger,
    records,
    async waitFor(type, count = 1) {
      await waitUntil(() => recordsOfType(records, type).length >= count);
      return recordsOfType(records, type);
    },
    waitUntil: (check) => waitUntil(() => check(records)),
  };
  const stream = new Writable({
    objectMode: true,
    write(info: Record<string, unknown>, _encoding, callback) {
      // As a log file would hold it: plain JSON, without winston's own fields.
      const { level: _level, message: _message, ...fields } = info;
      const record = JSON.parse(JSON.stringify(fields)) as ShadowLogRecord;
      records.push(record);
      log.onRecord?.(record);
      for (const waiter of [...waiters]) {
        if (waiter.check()) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      callback();
    },
  });
  log.logger = winston.createLogger({ level: 'info', transports: [new winston.transports.Stream({ stream })] });
  return log;
}

interface TcpServer {
  url: string;
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Resolves once `count` connections have been accepted. */
  waitForConnections(count: number): Promise<void>;
  close(): Promise<void>;
}

/** A plain TCP server on 127.0.0.1 (no HTTP parsing): each accepted socket goes to `onConnection`. */
export async function startTcpServer(onConnection: (socket: net.Socket) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    result.connections++;
    for (const waiter of [...waiters]) {
      if (result.connections >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const result: TcpServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: 0,
    waitForConnections(count) {
      if (result.connections >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return result;
}

/** A shadow that accepts connections and reads everything, but never answers: a black hole. */
export function startBlackHoleServer(): Promise<TcpServer> {
  return startTcpServer((socket) => socket.resume());
}

/** A shadow that answers the first bytes of every connection with `reply` (not HTTP, or broken HTTP), then ends the connection or keeps it open. */
export function startGarbageServer(reply: string | Buffer, after: 'end' | 'keep-open' = 'end'): Promise<TcpServer> {
  return startTcpServer((socket) => {
    socket.once('data', () => {
      if (after === 'end') socket.end(reply);
      else socket.write(reply);
    });
  });
}

/** A shadow that starts a valid JSON response (headers and part of the body), then resets the connection (TCP RST). */
export function startResettingServer(): Promise<TcpServer> {
  return startTcpServer((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"label":"posi', () => socket.resetAndDestroy());
    });
  });
}

interface RawClient {
  socket: net.Socket;
  /** Writes bytes and resolves once they are handed to the kernel. */
  write(bytes: string | Buffer): Promise<void>;
  /** Everything the server sent, once it closed the connection (or the client destroyed it). */
  response: Promise<Buffer>;
}

/** A raw TCP connection to a server, for requests no HTTP client would send. */
export async function connectRaw(port: number): Promise<RawClient> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const response = new Promise<Buffer>((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))));
  return {
    socket,
    write: (bytes) => new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
    response,
  };
}

/** Sends exactly `bytes` on a fresh connection and resolves with everything the server sent back before closing. */
export async function exchangeRaw(port: number, bytes: string | Buffer): Promise<string> {
  const client = await connectRaw(port);
  await client.write(bytes);
  return (await client.response).toString('latin1');
}

/** Collects `unhandledRejection` events while a test runs; `stop()` removes the listener. */
function trackUnhandledRejections(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', listener);
  return { reasons, stop: () => process.off('unhandledRejection', listener) };
}

interface HeldShadowServer extends RecordingServer {
  /** Answers the oldest call still waiting. */
  releaseOne(): void;
  /** Answers every waiting call, and the ones to come until `hold()`. */
  releaseAll(): void;
  /** Makes the calls to come wait again. */
  hold(): void;
}

/** A recording shadow whose answers (200 JSON) wait until the test releases them, so calls can be held in flight. */
export async function startHeldShadowServer(): Promise<HeldShadowServer> {
  const parked: http.ServerResponse[] = [];
  let open = false;
  const answer = (res: http.ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"label":"positive","model":"shadow"}');
  };
  const server = await startShadowServer((_req, res) => {
    if (open) answer(res);
    else parked.push(res);
  });
  return Object.assign(server, {
    releaseOne() {
      const res = parked.shift();
      if (res) answer(res);
    },
    releaseAll() {
      open = true;
      for (const res of parked.splice(0)) answer(res);
    },
    hold() {
      open = false;
    },
  });
}

/**
 * A request handler that reads the body and answers with its length in bytes. `waitForBytes(path, n)` resolves once
 * it has read `n` bytes of a request to `path`: the event a test awaits before checking what is held meanwhile.
 */
export function byteCountingHandler() {
  const progress = new EventEmitter();
  const seen = new Map<string, number>();
  const handler = (req: http.IncomingMessage & { originalUrl?: string }, res: http.ServerResponse) => {
    const path = req.originalUrl ?? req.url ?? '';
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      seen.set(path, bytes);
      progress.emit('bytes');
    });
    req.on('end', () => res.end(String(bytes)));
  };
  const waitForBytes = async (path: string, bytes: number) => {
    while ((seen.get(path) ?? 0) < bytes) await once(progress, 'bytes');
  };
  return { handler, waitForBytes };
}

/** Starts a raw upload: headers declaring `declared` bytes, then the first `first` bytes of the body (all `a`). */
export async function startRawUpload(port: number, path: string, declared: number, first: number, connection: 'close' | 'keep-alive' = 'close'): Promise<RawClient> {
  const client = await connectRaw(port);
  await client.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\nConnection: ${connection}\r\n\r\n`,
  );
  if (first > 0) await client.write(Buffer.alloc(first, 0x61));
  return client;
}

/** The answer of the stand-in production handler. */
const answerJson: express.RequestHandler = (_req, res) => {
  res.json({ label: 'positive', model: 'production' });
};

/**
 * One test file's cleanup list, with helpers that register on it: servers, middlewares and apps are closed, last
 * opened first, by `cleanUp()` (call it in `afterEach`). With `failOnUnhandledRejections`, `cleanUp()` then fails the
 * test if anything surfaced as an unhandled rejection while it ran: whatever the input, nothing on the shadow path may.
 */
export function testScope(options: { failOnUnhandledRejections?: boolean } = {}) {
  const cleanups: (() => unknown)[] = [];
  const closeLater = <T extends { close(): Promise<void> }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };
  let rejections: ReturnType<typeof trackUnhandledRejections> | undefined;
  if (options.failOnUnhandledRejections === true) beforeEach(() => void (rejections = trackUnhandledRejections()));
  return {
    cleanups,
    closeLater,
    /** A middleware closed after the test without waiting for calls still in flight. */
    mirror(options: ShadowOptions): ShadowMiddleware {
      const shadow = shadowMiddleware(options);
      cleanups.push(() => shadow.close({ timeoutMs: 0 }));
      return shadow;
    },
    /** An Express app with `shadow` (when given) mounted in front of `handler`. */
    async startApp(shadow: ShadowMiddleware | undefined, handler: express.RequestHandler = answerJson) {
      const app = express();
      if (shadow) app.use(shadow);
      app.use(handler);
      return closeLater(await serve(app));
    },
    async cleanUp(): Promise<void> {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      if (rejections === undefined) return;
      rejections.stop();
      expect(rejections.reasons).toEqual([]);
      rejections = undefined;
    },
  };
}

/** The two ways the engine runs: records read from a winston logger in-thread, or from the worker's log file. */
export const engines = [
  {
    name: 'in-thread',
    async setup() {
      const log = memoryLog();
      return {
        options: { logger: log.logger } as Partial<ShadowSettings>,
        records: async (shadow: { whenIdle(): Promise<void> }) => {
          await shadow.whenIdle();
          return log.records;
        },
      };
    },
  },
  {
    name: 'worker',
    async setup() {
      const logFile = await tempLogFile();
      return {
        options: { logFile, engine: 'worker' } as Partial<ShadowSettings>,
        records: async (shadow: { whenIdle(): Promise<void> }) => {
          await shadow.whenIdle();
          return readRecords(logFile);
        },
      };
    },
  },
];

/** Both Express majors the middleware supports. */
export const frameworks = [
  { name: 'Express 5', lib: express },
  { name: 'Express 4', lib: express4 as unknown as typeof express },
];

/** A raw HTTP answer without its Date header, to compare answers given at different times. */
export const withoutDate = (raw: string) => raw.replace(/^Date: .*\r\n/im, '');

export const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);

/**
 * Resolves once every request seen has been left out, skipped, or mirrored with its shadow record written.
 * (Only for tests without mirrorIf: a production_status decision writes no record to wake this up.)
 */
export function allAnswered(shadow: ShadowMiddleware, log: MemoryLog): Promise<void> {
  return log.waitUntil((records) => {
    const stats = shadow.stats();
    const accepted = recordsOfType(records, 'production').length;
    return (
      accepted + recordsOfType(records, 'skipped').length + total(stats.notMirrored) === stats.seen &&
      recordsOfType(records, 'shadow').length === accepted
    );
  });
}

/** For a state no event announces (requests waiting in the queue): checks again on every turn of the event loop. */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves once `Date.now()` has reached `epochMs`: a time the code under test announced (when a breaker lets its
 * probe through), not a guess at how long something takes.
 */
export async function clockReaches(epochMs: number): Promise<void> {
  while (Date.now() < epochMs) await new Promise((resolve) => setTimeout(resolve, epochMs - Date.now()));
}

/** Sends `count` GET requests over a few keep-alive connections; resolves with their statuses. */
export async function sendMany(url: string, count: number, requestFor: (i: number) => { path: string; headers?: http.OutgoingHttpHeaders }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const statuses = await Promise.all(
      Array.from(
        { length: count },
        (_, i) =>
          new Promise<number>((resolve, reject) => {
            const { path, headers } = requestFor(i);
            http
              .get(url + path, { agent, headers }, (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              })
              .on('error', reject);
          }),
      ),
    );
    return statuses;
  } finally {
    agent.destroy();
  }
}
