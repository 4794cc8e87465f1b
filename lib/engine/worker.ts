/**
 * The engine's worker thread: one per process, shared by every middleware instance whose hooks can cross threads.
 * It only relays: each message is one operation of the engine host, and the host's feedback goes back as it comes.
 * Warnings raised here are forwarded, so the app's `process.on('warning')` sees them as if raised on its thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import { EngineHost } from './host.js';
import { installWatchdog, markTakenIn } from './watchdog.js';
import type { FromEngine, ToEngine } from './protocol.js';

const port = parentPort!;
const post = (message: FromEngine): void => port.postMessage(message);
const host = new EngineHost((feedback) => post({ op: 'feedback', feedback }));
installWatchdog((workerData as { watchdog?: SharedArrayBuffer } | undefined)?.watchdog);

// Raised on the app's thread instead (with the same code), so `process.on('warning')` there sees them, once.
process.emitWarning = ((warning: string | Error, options?: { code?: string; type?: string } | string) => {
  const message = typeof warning === 'string' ? warning : warning.message;
  const code = typeof options === 'object' ? options.code : typeof warning === 'object' ? (warning as { code?: string }).code : undefined;
  const type = typeof options === 'object' ? options.type : typeof options === 'string' ? options : undefined;
  post({ op: 'warning', message, ...(code ? { code } : {}), ...(type ? { type } : {}) });
}) as typeof process.emitWarning;

function receive(message: ToEngine): void {
  switch (message.op) {
    case 'register':
      void host.register(message.id, message.options, message.events);
      return;
    case 'call': {
      // An exchange counts as taken in once the engine starts on it (work-loop.ts); until then, should this worker
      // be ended, the tap sends it to the next one.
      const done = host.call(message.id, message.method, message.args as never, message.n === undefined ? undefined : () => markTakenIn(message.n));
      if (message.seq === undefined) return;
      const seq = message.seq;
      done.then(
        () => post({ op: 'reply', seq }),
        (error: unknown) => post({ op: 'reply', seq, error: errorMessage(error) }),
      );
      return;
    }
    case 'reopen':
      host.reopen();
      return;
    case 'retire':
      // No instance left: stop listening, so the thread ends once the log has written what it still holds.
      port.close();
      return;
  }
}

port.on('message', (batch: ToEngine[]) => {
  for (const message of batch) receive(message);
});
post({ op: 'ready' });
