/**
 * Reopening log files on a signal (logrotate's `postrotate kill -HUP`): one process listener whatever the number
 * of middleware instances, removed when the last instance closes, so a closed middleware leaves nothing behind.
 */
const handlers = new Map<NodeJS.Signals, Set<() => void>>();

export function watchReopenSignal(signal: NodeJS.Signals, handler: () => void): () => void {
  let set = handlers.get(signal);
  if (!set) {
    set = new Set();
    handlers.set(signal, set);
    process.on(signal, onSignal);
  }
  set.add(handler);
  return () => {
    const current = handlers.get(signal);
    if (!current?.delete(handler) || current.size > 0) return;
    handlers.delete(signal);
    process.off(signal, onSignal);
  };
}

function onSignal(signal: NodeJS.Signals): void {
  for (const handler of handlers.get(signal) ?? []) {
    try {
      handler();
    } catch {
      // Reopening is best effort; the sink reports its own failures.
    }
  }
}
