/**
 * Model servers for the bench, in a process of their own: the production model and shadows in good and bad health.
 *
 *   tsx bench/models.ts --roles prod,fast,slow,refuse,blackhole,big,switch
 *
 * Roles:
 *   prod       the production model: reads the JSON body, answers a small JSON prediction at once.
 *   fast       a healthy shadow: same shape, slightly different scores (so the comparator finds differences).
 *   slow       a shadow that answers after 300 ms.
 *   refuse     a port nothing listens on (connections are refused).
 *   blackhole  accepts TCP connections and never reads or answers.
 *   big        answers a 5 MB JSON body.
 *   switch     a healthy shadow that black-holes every request while switched (IPC `blackhole` { on }).
 * Sends `{ type: 'ready', ports: { role: port } }` over IPC; answers `usage` with its CPU time and RSS.
 */
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { serveParent } from './child.js';

const { values } = parseArgs({ options: { roles: { type: 'string', default: 'prod,fast' }, 'slow-ms': { type: 'string', default: '300' } } });
const roles = values.roles.split(',').filter(Boolean);
const slowMs = Number(values['slow-ms']);

/** What the production model answers; the shadow's differs in model name, version and scores. */
function prediction(model: 'prod' | 'shadow', input: { text?: unknown }): object {
  const length = typeof input.text === 'string' ? input.text.length : 0;
  const positive = model === 'prod' ? 0.8125 : 0.7931;
  return {
    label: 'positive',
    score: positive,
    probabilities: { positive, neutral: 0.125, negative: 1 - positive - 0.125 },
    model: model === 'prod' ? 'sentiment-v3' : 'sentiment-v4-candidate',
    version: model === 'prod' ? '3.2.1' : '4.0.0-rc.2',
    tokens: Math.ceil(length / 4),
    explanations: [
      { token: 'great', weight: model === 'prod' ? 0.41 : 0.39 },
      { token: 'fast', weight: 0.22 },
    ],
  };
}

function jsonModel(model: 'prod' | 'shadow', delayMs = 0, blackholed?: () => boolean): http.Server {
  return http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      // Black-holed: the request was read, and nothing will ever be answered.
      if (blackholed?.()) return;
      let input: { text?: unknown } = {};
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text?: unknown };
      } catch {
        // A body that is not JSON still gets a prediction.
      }
      const body = JSON.stringify(prediction(model, input));
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
}

function bigModel(): http.Server {
  // One 5 MB JSON document, built once: { "items": ["xxxx…", …] }.
  const item = JSON.stringify('x'.repeat(1000));
  const items = new Array<string>(5000).fill(item).join(',');
  const body = Buffer.from(`{"items":[${items}]}`);
  return http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    // The mirror stops reading after its cap and destroys the socket; that is expected here.
    res.on('error', () => {});
  });
}

/** Accepts connections and never reads or writes; sockets are kept until the client gives up. */
function blackhole(): net.Server {
  const held = new Set<net.Socket>();
  return net.createServer({ pauseOnConnect: true }, (socket) => {
    held.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => held.delete(socket));
  });
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port that was free a moment ago and now has nobody listening: connecting to it is refused. */
async function refusingPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let switchedOff = false;
const servers: net.Server[] = [];
const ports: Record<string, number> = {};
for (const role of roles) {
  let server: net.Server | undefined;
  switch (role) {
    case 'prod':
      server = jsonModel('prod');
      break;
    case 'fast':
      server = jsonModel('shadow');
      break;
    case 'slow':
      server = jsonModel('shadow', slowMs);
      break;
    case 'big':
      server = bigModel();
      break;
    case 'blackhole':
      server = blackhole();
      break;
    case 'switch':
      server = jsonModel('shadow', 0, () => switchedOff);
      break;
    case 'refuse':
      ports[role] = await refusingPort();
      continue;
    default:
      throw new Error(`unknown role ${role}`);
  }
  servers.push(server);
  ports[role] = await listen(server);
}

serveParent(
  {
    usage: () => ({ cpu: process.cpuUsage(), rss: process.memoryUsage.rss() }),
    blackhole: (payload) => {
      switchedOff = Boolean((payload as { on?: boolean } | undefined)?.on);
      return { on: switchedOff };
    },
  },
  async () => {
    for (const server of servers) {
      if (server instanceof http.Server) server.closeAllConnections();
      server.close();
    }
  },
);
process.send!({ type: 'ready', ports });
