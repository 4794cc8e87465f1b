/**
 * The docs stay true to the package: every ```ts block of README.md and docs/**\/*.md type-checks against it (one
 * compiler run for all of them), and the options table of docs/options.md lists exactly the keys of `ShadowOptions`.
 *
 * A block that is not meant to compile on its own (a fragment, a deliberate mistake) is fenced ```ts nocheck.
 * Blocks are modules; the names snippets commonly use without defining them (`shadowMiddleware`, `app`, `shadow`,
 * `req`, `res`) are declared globally, so a block that defines or imports its own simply shadows them.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workDir = path.join(root, 'test-output', 'docs-check');
const COMPILE_TIMEOUT_MS = 300_000;

/** Names snippets may use without defining or importing them. */
const PRELUDE = `import type { Express, Request, Response } from 'express';
import type { ShadowMiddleware, shadowMiddleware as factory } from 'express-shadow';
declare global {
  const shadowMiddleware: typeof factory;
  const app: Express;
  const shadow: ShadowMiddleware;
  const req: Request;
  const res: Response;
  // Stand-ins for the app's own code.
  function callProductionModel(input: unknown): Promise<unknown>;
  const invokeSageMaker: import('express-shadow').ShadowTargetFunction;
}
`;

interface CodeBlock {
  /** Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the block's first code line in the markdown file. */
  line: number;
  /** Words after the language on the fence line (`nocheck`). */
  flags: string[];
  code: string;
}

/** The fenced code blocks of one language in a markdown text. */
function codeBlocks(markdown: string, file: string, language: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\S+)?\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang = '', rest = ''] = open;
    const end = lines.findIndex((text, j) => j > i && text.trim().startsWith(fence!) && text.trim().replace(/[`~]/g, '') === '');
    const close = end === -1 ? lines.length : end;
    if (lang === language) {
      const code = lines.slice(i + 1, close).map((text) => (text.startsWith(indent!) ? text.slice(indent!.length) : text));
      blocks.push({ file, line: i + 2, flags: rest.split(/\s+/).filter(Boolean), code: code.join('\n') });
    }
    i = close;
  }
  return blocks;
}

function markdownFiles(): string[] {
  const docs = path.join(root, 'docs');
  let inDocs: string[] = [];
  try {
    inDocs = (readdirSync(docs, { recursive: true }) as string[]).filter((name) => name.endsWith('.md')).map((name) => path.join('docs', name));
  } catch {
    // No docs/ yet.
  }
  return ['README.md', ...inDocs.sort()];
}

/** Compiles the blocks as one program; returns the diagnostics, each located in its markdown file. */
function typeCheckBlocks(blocks: CodeBlock[]): string[] {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  writeFileSync(path.join(workDir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(path.join(workDir, 'prelude.ts'), PRELUDE);
  const sources = new Map<string, CodeBlock>();
  blocks.forEach((block, i) => {
    const name = path.join(workDir, `block-${String(i).padStart(3, '0')}.ts`);
    // `export {}` makes every block a module, even one without imports.
    writeFileSync(name, `${block.code}\nexport {};\n`);
    sources.set(name, block);
  });
  const program = ts.createProgram([path.join(workDir, 'prelude.ts'), ...sources.keys()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
    baseUrl: root,
    paths: { 'express-shadow': ['./lib/index.ts'] },
  });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const block = diagnostic.file && sources.get(path.normalize(diagnostic.file.fileName));
    if (!block || diagnostic.start === undefined) return `${diagnostic.file?.fileName ?? ''}: ${message}`;
    const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
    return `${block.file}:${block.line + line}: ${message}`;
  });
}

/** Top-level keys of `ShadowOptions`, read from lib/types.ts by the compiler (both arms of its target union). */
function shadowOptionKeys(): string[] {
  const file = path.join(root, 'lib', 'types.ts');
  const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
  const alias = checker.getExportsOfModule(moduleSymbol).find((symbol) => symbol.name === 'ShadowOptions')!;
  const type = checker.getDeclaredTypeOfSymbol(alias);
  const keys = new Set<string>();
  for (const part of type.isUnion() ? type.types : [type]) for (const property of checker.getPropertiesOfType(part)) keys.add(property.name);
  return [...keys].sort();
}

/** Option names of the first table of docs/options.md whose header starts with `Option`: the backquoted first cells. */
function documentedOptions(markdown: string): string[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*Option\s*\|/.test(line));
  if (header === -1) return [];
  const names: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const name = /^\|\s*`([^`]+)`/.exec(line)?.[1];
    if (name) names.push(name);
  }
  return names.sort();
}

describe('code samples in README.md and docs/', () => {
  it('finds fenced blocks with their language, flags and markdown line', () => {
    const markdown = ['# T', '```ts', 'const a = 1;', '```', '', '```ts nocheck', 'oops(', '```', '```sh', 'npm i', '```'].join('\n');
    expect(codeBlocks(markdown, 'X.md', 'ts')).toEqual([
      { file: 'X.md', line: 3, flags: [], code: 'const a = 1;' },
      { file: 'X.md', line: 7, flags: ['nocheck'], code: 'oops(' },
    ]);
  });

  // A block that must fail, compiled with the others (one compiler run): proves errors are caught and located.
  const probe = { file: '(probe).md', line: 10, flags: [], code: "import { shadowMiddleware } from 'express-shadow';\n\nshadowMiddleware({ target: 1 });" };
  let errors: string[] = [];
  let checked = 0;
  beforeAll(() => {
    const blocks = markdownFiles()
      .flatMap((file) => codeBlocks(readFileSync(path.join(root, file), 'utf8'), file, 'ts'))
      .filter((block) => !block.flags.includes('nocheck'));
    checked = blocks.length;
    errors = typeCheckBlocks([...blocks, probe]);
  }, COMPILE_TIMEOUT_MS);

  it('type-checks every ```ts block against the package (fence a fragment ```ts nocheck)', () => {
    expect(checked).toBeGreaterThan(0);
    expect(errors.filter((error) => !error.startsWith(probe.file))).toEqual([]);
  });

  it('reports a block that does not compile at its markdown line', () => {
    expect(errors.filter((error) => error.startsWith(probe.file))).toEqual([expect.stringMatching(/^\(probe\)\.md:12: Type 'number' is not assignable/)]);
  });
});

describe('docs/options.md', () => {
  it('lists every option of ShadowOptions in its options table, and nothing else', () => {
    const documented = documentedOptions(readFileSync(path.join(root, 'docs', 'options.md'), 'utf8'));
    const keys = shadowOptionKeys();
    expect(keys.length).toBeGreaterThan(20);
    expect({ undocumented: keys.filter((key) => !documented.includes(key)), notAnOption: documented.filter((name) => !keys.includes(name)) }).toEqual({
      undocumented: [],
      notAnOption: [],
    });
  });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  return new Set(markdown.split('\n').flatMap((line) => /^#{1,6} (.*)$/.exec(line)?.[1] ?? []).map(slug));
}

/** Link targets of a markdown text, outside code blocks. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

const REPOSITORY = 'https://github.com/express-shadow/express-shadow';

describe('links of the markdown that ships in the package (README.md, CHANGELOG.md)', () => {
  // The npm page shows README.md from the tarball, which has no docs/: every link is absolute or an anchor.
  for (const file of ['README.md', 'CHANGELOG.md']) {
    it(`${file}: every link is an anchor of the page or an absolute URL, and each into the repository names a file and heading that exist`, () => {
      const markdown = readFileSync(path.join(root, file), 'utf8');
      const found = links(markdown);
      expect(found.length).toBeGreaterThan(file === 'README.md' ? 20 : 1);
      const relative = found.filter((link) => !link.startsWith('#') && !/^https?:\/\//.test(link));
      expect(relative).toEqual([]);
      const own = anchors(markdown);
      expect(found.filter((link) => link.startsWith('#') && !own.has(link.slice(1)))).toEqual([]);
      const broken: string[] = [];
      for (const link of found.filter((l) => l.startsWith(`${REPOSITORY}/blob/main/`))) {
        const [target, anchor] = link.slice(`${REPOSITORY}/blob/main/`.length).split('#') as [string, string | undefined];
        let text: string;
        try {
          text = readFileSync(path.join(root, target), 'utf8');
        } catch {
          broken.push(link);
          continue;
        }
        if (anchor !== undefined && !anchors(text).has(anchor)) broken.push(link);
      }
      expect(broken).toEqual([]);
    });
  }

  it('package.json says where the repository, its home page and its issues are', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { repository: { url: string }; homepage: string; bugs: { url: string } };
    expect(pkg.repository.url).toBe(`git+${REPOSITORY}.git`);
    expect(pkg.homepage).toBe(`${REPOSITORY}#readme`);
    expect(pkg.bugs.url).toBe(`${REPOSITORY}/issues`);
  });
});

describe('the TSDoc example of shadowMiddleware (what editors show on hover)', () => {
  /** The first @example block of a TSDoc comment in a source file, without its ` * ` margin. */
  function tsdocExample(file: string): string {
    const source = readFileSync(path.join(root, file), 'utf8');
    const block = /@example\n \* ```ts\n([\s\S]*?) \* ```/.exec(source)?.[1] ?? '';
    return block.replace(/^ \* ?/gm, '');
  }

  it('serves, and on SIGTERM stops the server and the shadow, so the process exits', async () => {
    const example = tsdocExample('lib/index.ts');
    expect(example).toContain("process.once('SIGTERM'");
    const shadowServer = http.createServer((_req, res) => res.end('{"label":"positive"}'));
    shadowServer.listen(0, '127.0.0.1');
    await once(shadowServer, 'listening');
    const { port: shadowPort } = shadowServer.address() as { port: number };
    // Run as written, but on free ports, every request mirrored, and telling the test where it listens.
    const program =
      example
        .replace('http://127.0.0.1:9000', `http://127.0.0.1:${shadowPort}`)
        .replace('sampleRate: 0.1', 'sampleRate: 1')
        .replace('app.listen(3000', 'app.listen(0') +
      "\nserver.on('listening', () => console.log(`LISTENING ${JSON.stringify(server.address())}`));\n";
    const dir = path.join(root, 'test-output', 'tsdoc-example');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'app.ts'), program);
    const child = spawn(process.execPath, ['--import', 'tsx', 'app.ts'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          const address = /^LISTENING (.*)$/m.exec(stdout)?.[1];
          if (address !== undefined) resolve((JSON.parse(address) as { port: number }).port);
        });
        void exited.then(() => reject(new Error(`the example exited before listening:\n${stderr}`)));
      });
      const answer = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/predict', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end('{"text":"hi"}');
      });
      expect(JSON.parse(answer)).toEqual({ label: 'positive' });
      child.kill('SIGTERM');
      // The hang detector is the test's timeout: without server.close() the process would keep serving.
      expect(await exited, stderr).toEqual([0, null]);
      const log = readFileSync(path.join(dir, 'shadow.log'), 'utf8');
      expect(log).toContain('"type":"comparison"');
    } finally {
      child.kill('SIGKILL');
      shadowServer.close();
    }
  });
});

describe('each figure in one place, made by what is in the repository', () => {
  const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
  const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```$/gm, '');

  it('README states no performance figure: it links to docs/performance.md and docs/at-scale.md, their one home', () => {
    const readme = read('README.md');
    expect(prose(readme).match(/[^\n]*\b\d[\d.,]*\s*(?:µs|×|req\/s|MB|GB|records\/s)[^\n]*/g) ?? []).toEqual([]);
    expect(readme).toContain(`${REPOSITORY}/blob/main/docs/performance.md`);
    expect(readme).toContain(`${REPOSITORY}/blob/main/docs/at-scale.md#performance`);
  });

  it('the report’s reading speed is in docs/at-scale.md only; performance.md links to it', () => {
    const performance = read('docs/performance.md');
    expect(performance).not.toMatch(/records\/s|\b\d+(?:\.\d+)? s \|/);
    expect(performance).toContain('(at-scale.md#performance)');
    expect(read('docs/at-scale.md')).toMatch(/^\| [^|]+ \| 1,000,000 \| 1\.218 \| [\d.]+ s \| \d+ MB \|/m);
  });

  it('the figures name commands, scripts and results that are in the repository, and no tool outside it', () => {
    for (const file of ['docs/performance.md', 'docs/at-scale.md']) {
      const text = read(file);
      expect(text, file).not.toMatch(/\.\.\/shared|node \.\.\//);
      const cited = [...text.matchAll(/`((?:bench|test|sql|schema)\/[^`*\s]*)`/g)].map((m) => m[1]!);
      expect(cited.length, file).toBeGreaterThan(0);
      for (const item of cited) expect(existsSync(path.join(root, item)), `${file} cites ${item}`).toBe(true);
      for (const pattern of [...text.matchAll(/`(bench\/results\/[^`]*\*[^`]*)`/g)].map((m) => m[1]!)) {
        const [dir, glob] = [path.dirname(pattern), path.basename(pattern)];
        const matcher = new RegExp(`^${glob.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
        expect(readdirSync(path.join(root, dir)).some((name) => matcher.test(name)), `${file} cites ${pattern}`).toBe(true);
      }
    }
  });

  it('the docs give the demo the number of requests it sends by default', () => {
    const requests = /--requests <n>\s+Requests to send\. Default (\d+)/.exec(read('demo-app/run.ts'))?.[1];
    expect(requests).toBe('400');
    for (const file of ['README.md', 'docs/replay.md', 'docs/report.md']) {
      for (const match of prose(read(file)).matchAll(/(\d+) requests of\s+live traffic|holds (\d+) requests|\((\d+) requests\) printed/g)) {
        expect(match[1] ?? match[2] ?? match[3], file).toBe(requests);
      }
    }
    expect(read('docs/replay.md')).toContain(`holds ${requests} requests`);
  });
});
