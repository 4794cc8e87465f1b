/**
 * Test harness: real servers on 127.0.0.1, a shadow that records what it receives, log files read back as JSON.
 */
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ShadowLogRecord } from '../lib/index.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export type ShadowHandler = (req: ReceivedRequest, res: http.ServerResponse) => void;

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
  return mkdtemp(path.join(tmpdir(), 'express-shadow-test-'));
}

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
