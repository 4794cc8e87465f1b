// Turns tsc's dist/engine/worker.js into one file holding the engine and every package it imports (undici, winston,
// uuid, ...), and writes those packages' licences beside it (worker-licenses.txt). Run by `npm run build`.
//
// Why the dependencies go in too: a worker that imports them from node_modules resolves, reads and loads about 30
// packages (half of them CommonJS, each scanned for its exports) before it can take its first exchange; bundled, it
// starts on about a quarter less CPU (`node bench/worker-start.mjs`; figures in docs/performance.md), and that start
// lands on every app that starts under traffic. The price: a fix in one of these
// packages reaches users with a release of express-shadow (the in-thread engine, the report and replay keep using
// the installed copies).
import { build } from 'esbuild';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const WORKER = 'dist/engine/worker.js';
const LICENSES = 'dist/engine/worker-licenses.txt';

const { metafile } = await build({
  entryPoints: [WORKER],
  outfile: WORKER,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  // The CommonJS packages require() Node's own modules, and an ES module has no require of its own.
  banner: { js: "import { createRequire as createWorkerRequire } from 'node:module';\nconst require = createWorkerRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(LICENSES, licenseText(bundledPackages(Object.keys(metafile.inputs))));

/** The directories of the packages whose files went into the bundle (a nested copy counts as its own package). */
function bundledPackages(inputs) {
  const dirs = new Set();
  for (const input of inputs) {
    const at = input.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const [scope, name] = input.slice(at + 'node_modules/'.length).split('/');
    dirs.add(input.slice(0, at + 'node_modules/'.length) + (scope.startsWith('@') ? `${scope}/${name}` : scope));
  }
  return [...dirs].sort();
}

function licenseText(dirs) {
  const parts = dirs.map((dir) => {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((entry) => /^licen[cs]e/i.test(entry));
    if (!file) throw new Error(`${manifest.name}: no licence file to ship with the worker`);
    return `${manifest.name}@${manifest.version} (${manifest.license})\n\n${readFileSync(path.join(dir, file), 'utf8').trim()}\n`;
  });
  const header = 'The engine\'s worker (worker.js) includes the following packages, under these licences.\n';
  return [header, ...parts].join(`\n${'-'.repeat(80)}\n\n`);
}
