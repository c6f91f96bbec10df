// The deployment files (Dockerfile, .dockerignore, deploy/kubernetes/**, deploy/systemd/*), checked for
// structure: no Docker engine, no Kubernetes API server and no YAML parser are available to the tests, so
// the manifests are read with the strict YAML subset parser below (it refuses anything outside the subset
// instead of guessing) and the units and the Dockerfile with small readers of their own syntax. Where a
// file repeats a fact of the code (exit codes, the signal grace period, the CLI's path, the image's user),
// the test takes the fact from the code, so the two cannot drift apart.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT } from '../../src/cli.js';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

// ---------------------------------------------------------------------------------------------------
// A YAML subset: block mappings and sequences (indented with spaces), plain, single- and double-quoted
// scalars, flow sequences of scalars, literal block scalars (| and |-), comments, `---` between
// documents. Anchors, aliases, tags, flow mappings, folded scalars and YAML 1.1's ambiguous plain scalars
// (yes/no/on/off, 0-prefixed numbers) are refused with the line number.

type Yaml = string | number | boolean | null | Yaml[] | { [k: string]: Yaml };
type YamlMap = { [k: string]: Yaml };

interface Line {
  no: number;
  indent: number;
  text: string; // without indentation and comment
  raw: string;
}

class YamlError extends Error {}

function stripComment(s: string, no: number): string {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) {
        if (quote === "'" && s[i + 1] === "'") i++;
        else quote = null;
      } else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s[,:-]/.test(s[i - 1]!)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) {
      return s.slice(0, i).trimEnd();
    }
  }
  if (quote) throw new YamlError(`line ${no}: unterminated quote`);
  return s.trimEnd();
}

function scalar(s: string, no: number): Yaml {
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) throw new YamlError(`line ${no}: bad double-quoted scalar ${s}`);
    return JSON.parse(s) as string;
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new YamlError(`line ${no}: bad single-quoted scalar ${s}`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (/^[&*!{>%@`]/.test(s)) throw new YamlError(`line ${no}: outside the YAML subset: ${s}`);
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null' || s === '~' || s === '') return null;
  if (/^(yes|no|on|off|y|n)$/i.test(s)) throw new YamlError(`line ${no}: ambiguous plain scalar ${s} (quote it)`);
  if (/^[-+]?0\d/.test(s) || /^0[xob]/i.test(s)) throw new YamlError(`line ${no}: ambiguous number ${s} (octal in YAML 1.1)`);
  if (/^-?(0|[1-9]\d*)$/.test(s)) return Number(s);
  if (/^-?\d+\.\d+$/.test(s)) return Number(s);
  if (/: |:$/.test(s) || s.startsWith('- ')) throw new YamlError(`line ${no}: outside the YAML subset: ${s}`);
  return s;
}

function flowSequence(s: string, no: number): Yaml[] {
  const inner = s.slice(1, -1).trim();
  if (inner === '') return [];
  if (/[[\]{}]/.test(inner)) throw new YamlError(`line ${no}: nested flow collections are outside the subset`);
  const items: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (const c of inner) {
    if (quote) {
      if (c === quote) quote = null;
      cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (c === ',') {
      items.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  items.push(cur.trim());
  return items.map((i) => {
    if (i === '') throw new YamlError(`line ${no}: empty flow item`);
    return scalar(i, no);
  });
}

function value(s: string, no: number): Yaml {
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new YamlError(`line ${no}: unterminated flow sequence`);
    return flowSequence(s, no);
  }
  return scalar(s, no);
}

/** Index of the ": " (or final ":") that ends a mapping key, outside quotes; -1 if none. */
function keyEnd(s: string): number {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if ((c === '"' || c === "'") && i === 0) quote = c;
    else if (c === ':' && (i === s.length - 1 || s[i + 1] === ' ')) return i;
    else if (c === '[' || c === '{') return -1;
  }
  return -1;
}

export function parseYaml(text: string): Yaml[] {
  const raws = text.split('\n');
  const docs: Yaml[] = [];
  let start = 0;
  for (let i = 0; i <= raws.length; i++) {
    if (i === raws.length || raws[i] === '---') {
      const doc = parseDocument(raws.slice(start, i), start);
      if (doc !== undefined) docs.push(doc);
      start = i + 1;
    }
  }
  return docs;
}

function parseDocument(raws: string[], offset: number): Yaml | undefined {
  let pos = 0;
  // The next line with content, or undefined at the end; comment-only and blank lines are skipped.
  const peek = (): Line | undefined => {
    while (pos < raws.length) {
      const raw = raws[pos]!;
      const no = offset + pos + 1;
      if (/^\s*\t/.test(raw)) throw new YamlError(`line ${no}: tab in indentation`);
      const indent = raw.length - raw.trimStart().length;
      const text = stripComment(raw.trimStart(), no);
      if (text !== '') return { no, indent, text, raw };
      pos++;
    }
    return undefined;
  };

  const blockScalar = (parentIndent: number, header: string, no: number): string => {
    if (header !== '|' && header !== '|-') throw new YamlError(`line ${no}: only | and |- block scalars are in the subset`);
    const lines: string[] = [];
    let indent = -1;
    while (pos < raws.length) {
      const raw = raws[pos]!;
      if (raw.trim() === '') {
        lines.push('');
        pos++;
        continue;
      }
      const ind = raw.length - raw.trimStart().length;
      if (ind <= parentIndent) break;
      if (indent < 0) indent = ind;
      if (ind < indent) throw new YamlError(`line ${offset + pos + 1}: block scalar line less indented than its first`);
      lines.push(raw.slice(indent));
      pos++;
    }
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n') + (header === '|' && lines.length > 0 ? '\n' : '');
  };

  // The value after "key:" or "-": inline, a block scalar, or the block on the following lines.
  const valueAfter = (rest: string, ownerIndent: number, no: number, inSequence: boolean): Yaml => {
    if (rest.startsWith('|') || rest.startsWith('>')) return blockScalar(ownerIndent, rest, no);
    if (rest !== '') return value(rest, no);
    const next = peek();
    if (next === undefined) return null;
    if (next.indent > ownerIndent) return block(next.indent);
    // YAML lets a mapping's sequence value sit at the key's own indentation.
    if (!inSequence && next.indent === ownerIndent && (next.text === '-' || next.text.startsWith('- '))) return sequence(ownerIndent);
    return null;
  };

  const block = (indent: number): Yaml => {
    const first = peek()!;
    return first.text === '-' || first.text.startsWith('- ') ? sequence(indent) : mapping(indent);
  };

  const mapping = (indent: number, firstInline?: Line): YamlMap => {
    const map: YamlMap = {};
    let line: Line | undefined = firstInline;
    for (;;) {
      if (line === undefined) {
        line = peek();
        if (line === undefined || line.indent < indent) break;
        if (line.indent > indent) throw new YamlError(`line ${line.no}: unexpected indentation`);
        if (line.text === '-' || line.text.startsWith('- ')) break;
        pos++;
      }
      const k = keyEnd(line.text);
      if (k < 0) throw new YamlError(`line ${line.no}: expected "key: value", got ${line.text}`);
      const key = scalar(line.text.slice(0, k).trim(), line.no);
      if (typeof key !== 'string') throw new YamlError(`line ${line.no}: key ${String(key)} is not a string`);
      if (Object.hasOwn(map, key)) throw new YamlError(`line ${line.no}: duplicate key ${key}`);
      map[key] = valueAfter(line.text.slice(k + 1).trim(), indent, line.no, false);
      line = undefined;
    }
    return map;
  };

  const sequence = (indent: number): Yaml[] => {
    const items: Yaml[] = [];
    for (;;) {
      const line = peek();
      if (line === undefined || line.indent < indent) break;
      if (line.indent > indent) throw new YamlError(`line ${line.no}: unexpected indentation`);
      if (!(line.text === '-' || line.text.startsWith('- '))) break;
      pos++;
      const rest = line.text.slice(1).trimStart();
      const restIndent = indent + (line.text.length - rest.length);
      if (rest !== '' && keyEnd(rest) >= 0 && !rest.startsWith('[')) {
        // "- key: value": a mapping whose keys are aligned with this first one.
        items.push(mapping(restIndent, { ...line, indent: restIndent, text: rest }));
      } else items.push(valueAfter(rest, indent, line.no, true));
    }
    return items;
  };

  if (peek() === undefined) return undefined;
  const top = peek()!;
  if (top.indent !== 0) throw new YamlError(`line ${top.no}: a document starts at column 0`);
  const doc = block(0);
  const rest = peek();
  if (rest !== undefined) throw new YamlError(`line ${rest.no}: unexpected content: ${rest.text}`);
  return doc;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers over parsed YAML.

function get(node: Yaml | undefined, path: string): Yaml | undefined {
  let cur: Yaml | undefined = node;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}
const map = (node: Yaml | undefined, what: string): YamlMap => {
  assert.ok(node !== null && typeof node === 'object' && !Array.isArray(node), `${what} is a mapping`);
  return node;
};
const list = (node: Yaml | undefined, what: string): Yaml[] => {
  assert.ok(Array.isArray(node), `${what} is a sequence`);
  return node;
};
const named = (items: Yaml[], name: string, what: string): YamlMap => {
  const found = items.find((i) => get(i, 'name') === name);
  assert.ok(found !== undefined, `${what}: no item named ${name}`);
  return map(found, `${what} ${name}`);
};

/** A Kubernetes quantity in base units (bytes, or cores). */
function quantity(q: Yaml | undefined, what: string): number {
  const s = String(q);
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(s);
  assert.ok(m, `${what}: ${s} is a quantity`);
  const mult: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}

function walkFiles(dir: string, skip: (rel: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(join(root, dir))) {
    const rel = dir === '.' ? name : `${dir}/${name}`;
    if (skip(rel)) continue;
    if (statSync(join(root, rel)).isDirectory()) walkFiles(rel, skip, out);
    else out.push(rel);
  }
  return out;
}

// Facts of the code the deployment files repeat.
const cliSource = read('src/cli.ts');
const signalGraceMs = Number(/const SIGNAL_GRACE_MS = ([\d_]+);/.exec(cliSource)?.[1]?.replace(/_/g, ''));
const cliPath = 'dist/src/cli.js'; // what package.json's bin (bin/cdb2cos) execs

// ---------------------------------------------------------------------------------------------------

describe('the YAML subset reader', () => {
  test('reads mappings, sequences of mappings, flow sequences, quoted scalars and block scalars', () => {
    const [doc] = parseYaml(
      [
        'a: 1 # comment',
        'b:',
        '  - name: x',
        '    v: [2, 3]',
        '  - "q: #1"',
        'c:',
        '- plain text',
        'd: |',
        '  [ini]',
        '  # kept',
        '',
        '  k = v',
        "e: 'it''s'",
        'f: -5',
      ].join('\n'),
    );
    assert.deepEqual(doc, { a: 1, b: [{ name: 'x', v: [2, 3] }, 'q: #1'], c: ['plain text'], d: '[ini]\n# kept\n\nk = v\n', e: "it's", f: -5 });
  });

  test('refuses what it does not understand instead of guessing', () => {
    assert.throws(() => parseYaml('mode: 0440'), /ambiguous number/);
    assert.throws(() => parseYaml('flag: yes'), /ambiguous plain scalar/);
    assert.throws(() => parseYaml('a: &x 1'), /outside the YAML subset/);
    assert.throws(() => parseYaml('a: {b: 1}'), /outside the YAML subset/);
    assert.throws(() => parseYaml('a: 1\na: 2'), /duplicate key/);
    assert.throws(() => parseYaml('a:\n  b: 1\n   c: 2'), /unexpected indentation/);
    assert.throws(() => parseYaml('a: >\n  folded'), /only \| and \|-/);
    assert.throws(() => parseYaml('a: "open'), /unterminated quote/);
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  // Instructions, with continuation lines joined and comments dropped.
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^([A-Za-z]+)\s+(.*)$/.exec(l);
      assert.ok(m, `instruction: ${l}`);
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
  const argDefaults = new Map(instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
  const expand = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => argDefaults.get((a ?? b)!) ?? '');
  const stages: Array<{ image: string; name: string; body: Array<{ op: string; args: string }> }> = [];
  for (const i of instructions) {
    if (i.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      assert.ok(m, `FROM ${i.args}`);
      stages.push({ image: expand(m[1]!), name: m[2] ?? String(stages.length), body: [] });
    } else if (stages.length > 0) stages.at(-1)!.body.push(i);
  }
  const final = stages.at(-1)!;
  const runs = (s: (typeof stages)[number]): string => s.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
  const jsonArray = (op: string): string[] => {
    const ins = final.body.filter((i) => i.op === op);
    assert.equal(ins.length, 1, `one ${op} in the final stage`);
    assert.ok(ins[0]!.args.startsWith('['), `${op} in exec (JSON) form: no shell between the runtime and node`);
    return JSON.parse(ins[0]!.args) as string[];
  };

  test('multi-stage: a build stage with the dev dependencies, production dependencies only in the image', () => {
    assert.ok(stages.length >= 2, 'at least two stages');
    const build = stages.find((s) => /\bnpm ci\b(?![^&]*--omit)/.test(runs(s)) && /npm run build/.test(runs(s)));
    assert.ok(build, 'a stage runs `npm ci` with dev dependencies, then `npm run build`');
    assert.ok(
      stages.some((s) => /npm ci\b[^&]*--omit=dev[^&]*--workspaces=false/.test(runs(s))),
      'the production dependencies are installed with --omit=dev --workspaces=false (else npm links the emulator workspace)',
    );
    assert.notEqual(final, build, 'the final stage is not the build stage');
    assert.deepEqual(final.body.filter((i) => i.op === 'RUN'), [], 'the final stage runs nothing: it has no shell');
    // Everything in the final stage comes from an earlier stage, never straight from the context
    // (which holds the tests and the emulator).
    for (const c of final.body.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
      assert.equal(c.op, 'COPY', 'no ADD');
      assert.match(c.args, /--from=\S+/, `COPY ${c.args} takes from a stage`);
    }
  });

  test('the image holds the production package: npm pack of the build, with the emulator and tests left out', () => {
    assert.match(runs(stages.find((s) => /npm run build/.test(runs(s)))!), /npm pack\b/, 'the build stage packs the product (package.json "files")');
    // The build stage copies the emulator's manifest, which the lockfile's workspace needs: it must exist.
    for (const s of stages)
      for (const c of s.body.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))) {
        const srcs = c.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
        for (const src of srcs) if (src !== '.') assert.ok(existsSync(join(root, src)), `COPY source ${src} exists`);
      }
  });

  test('Node 22 or 24 LTS, every base image pinned to a tag that is not latest', () => {
    for (const s of stages) {
      const m = /^(?:[^/]+\/)*[^/:@]+(?::([^@]+))?(?:@sha256:[0-9a-f]{64})?$/.exec(s.image);
      assert.ok(m, `image reference ${s.image}`);
      assert.ok(m[1] !== undefined || s.image.includes('@sha256:'), `${s.image} has a tag or digest`);
      assert.notEqual(m[1], 'latest', `${s.image}: no latest tag`);
      assert.match(s.image, /node(js)?:?(22|24)\b|nodejs(22|24)-/, `${s.image} is Node 22 or 24`);
    }
  });

  test('runs as the non-root user 65532 of a distroless base, with the dirs it writes as volumes', () => {
    assert.match(final.image, /^gcr\.io\/distroless\/nodejs(22|24)-debian\d+:nonroot$/);
    const users = final.body.filter((i) => i.op === 'USER').map((i) => i.args);
    assert.deepEqual(users, ['65532:65532'], 'an explicit numeric USER (runAsNonRoot can check a number)');
    const volumes = JSON.parse(final.body.find((i) => i.op === 'VOLUME')!.args) as string[];
    assert.deepEqual(volumes.sort(), ['/var/lib/cdb2cos', '/var/log/cdb2cos']);
    for (const v of volumes)
      assert.ok(
        final.body.some((i) => i.op === 'COPY' && i.args.includes('--chown=65532:65532') && i.args.trim().endsWith(` ${v}`)),
        `${v} is created owned by the user, so a fresh volume is writable`,
      );
  });

  test('the entry point is node on the CLI, exec form, V8 flags before the script; they run here', () => {
    const entry = jsonArray('ENTRYPOINT');
    assert.ok(entry[0] === 'node' || entry[0]!.startsWith('/'), `${entry[0]}: node by absolute path (distroless has no node on PATH)`);
    const script = entry.findIndex((a) => a.endsWith('/' + cliPath) || a.endsWith('/bin/cdb2cos'));
    assert.ok(script > 0, `the entry point runs ${cliPath} (package.json bin) or bin/cdb2cos`);
    const v8Flags = entry.slice(1, script);
    assert.ok(v8Flags.every((f) => f.startsWith('--')), 'only flags between node and the script');
    const cmd = jsonArray('CMD');
    assert.deepEqual(cmd.slice(0, 3), ['run', '--config', '/etc/cdb2cos/cos.ini']);
    // The same command line on this machine's node, with the built CLI: the flags are valid V8 flags.
    const r = spawnSync(process.execPath, [...v8Flags, join(root, cliPath), '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: cdb2cos/);
  });

  test('.dockerignore leaves out dependencies, outputs, runs and git, and keeps every source the build compiles', () => {
    const rules = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const negate = l.startsWith('!');
        const p = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
        const re = new RegExp(
          '^' +
            p
              .split(/(\*\*\/|\*\*|\*|\?)/)
              .map((t) => (t === '**/' ? '(?:.*/)?' : t === '**' ? '.*' : t === '*' ? '[^/]*' : t === '?' ? '[^/]' : t.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
              .join('') +
            '(?:/.*)?$',
        );
        return { negate, re };
      });
    // Docker's rule: the last pattern that matches decides.
    const ignored = (path: string): boolean => rules.reduce((acc, r) => (r.re.test(path) ? !r.negate : acc), false);
    for (const p of ['node_modules/commander/package.json', 'packages/emulator/node_modules/x/y.js', 'dist/src/cli.js', 'packages/emulator/dist/src/index.js', '.git/HEAD', '.demo/cos.ini', '.bench/run-1/a', 'staging/cdb2cos.lock', 'logs/2026-11-28-cdb2cos.log', 'dist/tsconfig.tsbuildinfo'])
      assert.ok(ignored(p), `${p} is left out of the build context`);
    const needed = walkFiles('.', (rel) => /^(node_modules|dist|\.git|\.demo|\.bench|staging|logs)$|\/(node_modules|dist)$/.test(rel)).filter((f) =>
      /^(src|test|bench|packages\/emulator\/(src|test))\/.*\.ts$|^(package\.json|package-lock\.json|tsconfig[^/]*\.json|packages\/emulator\/(package|tsconfig)\.json|README\.md|config\.example\.ini)$/.test(f),
    );
    assert.ok(needed.length > 50, `${needed.length} sources found`);
    assert.deepEqual(needed.filter(ignored), [], 'no source the build needs is ignored');
  });
});

describe('Kubernetes manifests', () => {
  const dirs = ['deploy/kubernetes', 'deploy/kubernetes/oidc'];
  const docsOf = (file: string): YamlMap[] => {
    try {
      return parseYaml(read(file)).map((d) => map(d, file));
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
  };
  const all = dirs.flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith('.yaml')).map((f) => `${d}/${f}`));

  test('every file parses; each folder has a kustomization listing exactly its manifests, with no namespace', () => {
    assert.ok(all.length >= 7, all.join(' '));
    for (const dir of dirs) {
      const k = docsOf(`${dir}/kustomization.yaml`)[0]!;
      assert.equal(k['kind'], 'Kustomization');
      assert.equal(k['namespace'], undefined, 'the namespace is chosen when applying');
      const listed = list(k['resources'], `${dir} resources`).map(String).sort();
      const present = readdirSync(join(root, dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
      assert.deepEqual(listed, present, `${dir}/kustomization.yaml lists every manifest of its folder`);
    }
    for (const f of all)
      for (const d of docsOf(f)) {
        assert.equal(get(d, 'metadata.namespace'), undefined, `${f}: no namespace`);
        if (d['kind'] !== 'Kustomization') assert.equal(typeof get(d, 'metadata.name'), 'string', `${f}: a name`);
      }
    assert.deepEqual(all.filter((f) => docsOf(f).some((d) => d['kind'] === 'CronJob')), ['deploy/kubernetes/cronjob.yaml', 'deploy/kubernetes/oidc/cronjob.yaml']);
  });

  for (const file of ['deploy/kubernetes/cronjob.yaml', 'deploy/kubernetes/oidc/cronjob.yaml']) {
    const cron = (): YamlMap => docsOf(file).find((d) => d['kind'] === 'CronJob')!;
    const job = (): YamlMap => map(get(cron(), 'spec.jobTemplate.spec'), 'job spec');
    const pod = (): YamlMap => map(get(job(), 'template.spec'), 'pod spec');
    const container = (): YamlMap => named(list(pod()['containers'], 'containers'), 'cdb2cos', 'containers');

    describe(file, () => {
      test('a CronJob that never overlaps itself, on a time zone, with a starting deadline and history limits', () => {
        const spec = map(cron()['spec'], 'spec');
        assert.equal(cron()['apiVersion'], 'batch/v1');
        assert.equal(spec['concurrencyPolicy'], 'Forbid');
        assert.match(String(spec['timeZone']), /^[A-Z][A-Za-z_]+\/[A-Za-z_]+$/, 'an IANA time zone');
        assert.equal(String(spec['schedule']).split(' ').length, 5, 'a five-field schedule');
        for (const k of ['startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'])
          assert.ok(Number.isInteger(spec[k]) && (spec[k] as number) > 0, `${k} set`);
      });

      test('an Indexed Job: completions = the --shards value, parallelism ≤ completions, JOB_COMPLETION_INDEX read', () => {
        const j = job();
        assert.equal(j['completionMode'], 'Indexed');
        const completions = j['completions'] as number;
        assert.ok(Number.isInteger(completions) && completions >= 1);
        const parallelism = j['parallelism'] as number;
        assert.ok(Number.isInteger(parallelism) && parallelism >= 1 && parallelism <= completions);
        const args = list(container()['args'], 'args').map(String);
        assert.deepEqual(args.slice(0, 3), ['run', '--config', '/etc/cdb2cos/cos.ini']);
        const at = args.indexOf('--shards');
        assert.ok(at > 0, 'run with --shards');
        assert.equal(args[at + 1], String(completions), '--shards N with N = completions');
        assert.ok(!args.includes('--shard'), 'the index comes from JOB_COMPLETION_INDEX, not a fixed --shard');
        assert.ok(args.includes('--quiet'));
        const index = named(list(container()['env'], 'env'), 'JOB_COMPLETION_INDEX', 'env');
        assert.match(String(get(index, 'valueFrom.fieldRef.fieldPath')), /^metadata\.(annotations|labels)\['batch\.kubernetes\.io\/job-completion-index'\]$/);
      });

      test('configuration and authentication failures (exit 2, 3) fail the Job at once; other failures are retried', () => {
        const j = job();
        assert.ok(Number.isInteger(j['backoffLimitPerIndex'] ?? j['backoffLimit']), 'a retry limit');
        assert.ok(((j['backoffLimitPerIndex'] ?? j['backoffLimit']) as number) >= 1, 'failures are retried');
        const rules = list(get(j, 'podFailurePolicy.rules'), 'podFailurePolicy.rules').map((r) => map(r, 'rule'));
        const notRetried = rules.filter((r) => r['action'] === 'FailJob' || r['action'] === 'FailIndex');
        assert.equal(notRetried.length, 1);
        const on = map(notRetried[0]!['onExitCodes'], 'onExitCodes');
        assert.equal(notRetried[0]!['action'], 'FailJob');
        assert.equal(on['containerName'], 'cdb2cos');
        assert.equal(on['operator'], 'In');
        assert.deepEqual(list(on['values'], 'values'), [EXIT.usage, EXIT.auth]);
        // Nothing else is exempt from the retry count: 1, 4, 5, 143 and evictions are retried.
        assert.deepEqual(rules.filter((r) => r['action'] === 'Ignore'), []);
        assert.equal(pod()['restartPolicy'], 'Never', 'podFailurePolicy requires restartPolicy: Never');
      });

      test('SIGTERM has time to write resume state before SIGKILL', () => {
        assert.ok(signalGraceMs > 0, 'SIGNAL_GRACE_MS read from src/cli.ts');
        const grace = pod()['terminationGracePeriodSeconds'] as number;
        assert.ok(Number.isInteger(grace) && grace * 1000 >= 2 * signalGraceMs, `${grace} s ≥ twice the CLI's ${signalGraceMs} ms`);
      });

      test('resources from the measured memory: requests above the benchmark peak RSS, limits above requests', () => {
        const r = map(container()['resources'], 'resources');
        const reqMem = quantity(get(r, 'requests.memory'), 'requests.memory');
        const limMem = quantity(get(r, 'limits.memory'), 'limits.memory');
        assert.ok(reqMem >= 160 * 2 ** 20, 'request above the 155 MiB peak measured by the benchmark');
        assert.ok(limMem >= reqMem * 1.5, 'limit with room above the request');
        assert.ok(quantity(get(r, 'requests.cpu'), 'requests.cpu') >= 0.1);
        assert.ok(quantity(get(r, 'limits.cpu'), 'limits.cpu') >= quantity(get(r, 'requests.cpu'), 'requests.cpu'));
      });

      test('hardened: non-root as the image user, read-only root, no privilege escalation, no capability, seccomp', () => {
        const psc = map(pod()['securityContext'], 'pod securityContext');
        assert.equal(psc['runAsNonRoot'], true);
        assert.equal(psc['runAsUser'], 65532, 'the Dockerfile USER');
        assert.equal(get(psc, 'seccompProfile.type'), 'RuntimeDefault');
        const csc = map(container()['securityContext'], 'container securityContext');
        assert.equal(csc['readOnlyRootFilesystem'], true);
        assert.equal(csc['allowPrivilegeEscalation'], false);
        assert.deepEqual(list(get(csc, 'capabilities.drop'), 'drop'), ['ALL']);
        const image = String(container()['image']);
        assert.match(image, /:[\w.-]+$/, 'a tagged image');
        assert.doesNotMatch(image, /:latest$/);
      });

      test('config at /etc/cdb2cos/cos.ini, staging and logs on size-limited volumes at the image volumes', () => {
        const mounts = list(container()['volumeMounts'], 'volumeMounts').map((m) => map(m, 'mount'));
        const volumes = list(pod()['volumes'], 'volumes');
        const at = (path: string): YamlMap => {
          const m = mounts.find((x) => x['mountPath'] === path);
          assert.ok(m, `a volume at ${path}`);
          return named(volumes, String(m['name']), 'volumes');
        };
        const config = at('/etc/cdb2cos');
        assert.equal(mounts.find((x) => x['mountPath'] === '/etc/cdb2cos')!['readOnly'], true);
        const source = map(config['secret'] ?? config['configMap'], 'config source');
        assert.deepEqual(list(source['items'], 'items'), [{ key: 'cos.ini', path: 'cos.ini' }]);
        for (const path of ['/var/lib/cdb2cos', '/var/log/cdb2cos']) {
          const v = at(path);
          assert.ok(quantity(get(v, 'emptyDir.sizeLimit'), `${path} sizeLimit`) >= 2 ** 30, `${path}: an emptyDir with a sizeLimit`);
        }
        assert.ok(quantity(get(at('/var/lib/cdb2cos'), 'emptyDir.sizeLimit'), 'staging') >= 16 * 2 ** 30, 'staging sized for a backup');
      });
    });
  }

  test('the Secret variant: keys from the Secret as environment, no service account token', () => {
    const docs = [...docsOf('deploy/kubernetes/cronjob.yaml'), ...docsOf('deploy/kubernetes/serviceaccount.yaml')];
    const podSpec = map(get(docs.find((d) => d['kind'] === 'CronJob'), 'spec.jobTemplate.spec.template.spec'), 'pod');
    const sa = docs.find((d) => d['kind'] === 'ServiceAccount')!;
    assert.equal(podSpec['serviceAccountName'], get(sa, 'metadata.name'));
    assert.equal(podSpec['automountServiceAccountToken'], false);
    assert.equal(sa['automountServiceAccountToken'], false);
    const c = named(list(podSpec['containers'], 'containers'), 'cdb2cos', 'containers');
    const secret = named(list(podSpec['volumes'], 'volumes'), 'config', 'volumes')['secret'];
    const secretName = get(secret, 'secretName');
    for (const name of ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY']) {
      const ref = map(get(named(list(c['env'], 'env'), name, 'env'), 'valueFrom.secretKeyRef'), name);
      assert.deepEqual(ref, { name: secretName, key: name, optional: true });
    }
    assert.equal(get(secret, 'defaultMode'), 0o440, 'readable by the fsGroup, not by others');
    assert.equal(get(podSpec, 'securityContext.fsGroup'), 65532);
  });

  test('the OIDC variant: a ConfigMap without keys, a ServiceAccount annotated for the CAM role, the TKE_* variables', () => {
    const dir = 'deploy/kubernetes/oidc';
    const cron = docsOf(`${dir}/cronjob.yaml`)[0]!;
    const sa = docsOf(`${dir}/serviceaccount.yaml`)[0]!;
    const cm = docsOf(`${dir}/configmap.yaml`)[0]!;
    const podSpec = map(get(cron, 'spec.jobTemplate.spec.template.spec'), 'pod');
    assert.equal(sa['kind'], 'ServiceAccount');
    assert.equal(podSpec['serviceAccountName'], get(sa, 'metadata.name'));
    const ann = map(get(sa, 'metadata.annotations'), 'annotations');
    assert.match(String(ann['tke.cloud.tencent.com/role-arn']), /^qcs::cam::uin\/\d+:roleName\/[\w+=,.@-]+$/);
    assert.equal(typeof ann['tke.cloud.tencent.com/audience'], 'string');
    const volume = named(list(podSpec['volumes'], 'volumes'), 'config', 'volumes');
    assert.equal(volume['secret'], undefined);
    assert.equal(get(volume, 'configMap.name'), get(cm, 'metadata.name'));
    const ini = String(get(cm, 'data.cos.ini') ?? map(cm['data'], 'data')['cos.ini']);
    const live = ini.split('\n').filter((l) => !/^\s*[#;]/.test(l));
    assert.deepEqual(live.filter((l) => /^\s*(secret_id|secret_key|token)\s*=/.test(l)), [], 'no key in the ConfigMap');
    assert.ok(live.includes('instances = *'), 'every instance of the region');
    assert.ok(live.includes('staging_dir = /var/lib/cdb2cos/staging') && live.includes('dir = /var/log/cdb2cos'), 'paths on the volumes');
    const c = named(list(podSpec['containers'], 'containers'), 'cdb2cos', 'containers');
    assert.ok(!list(c['env'], 'env').some((e) => String(get(e, 'name')).startsWith('TENCENTCLOUD_')), 'no key from the environment');
    const text = read(`${dir}/cronjob.yaml`);
    for (const v of ['TKE_REGION', 'TKE_PROVIDER_ID', 'TKE_ROLE_ARN', 'TKE_WEB_IDENTITY_TOKEN_FILE']) assert.ok(text.includes(v), `${v} documented`);
  });

  test('both CronJobs agree on everything but the source of config and credentials', () => {
    const strip = (file: string): Yaml => {
      const cron = structuredClone(docsOf(file).find((d) => d['kind'] === 'CronJob')!);
      const podSpec = map(get(cron, 'spec.jobTemplate.spec.template.spec'), 'pod');
      delete podSpec['automountServiceAccountToken'];
      podSpec['volumes'] = list(podSpec['volumes'], 'volumes').filter((v) => get(v, 'name') !== 'config');
      const c = named(list(podSpec['containers'], 'containers'), 'cdb2cos', 'containers');
      c['env'] = list(c['env'], 'env').filter((e) => !String(get(e, 'name')).startsWith('TENCENTCLOUD_'));
      return cron;
    };
    assert.deepEqual(strip('deploy/kubernetes/oidc/cronjob.yaml'), strip('deploy/kubernetes/cronjob.yaml'));
  });
});

describe('systemd units', () => {
  // systemd's unit syntax: [Section], Key=Value (repeatable), # and ; comments, \ continuation.
  function parseUnit(file: string): Map<string, Map<string, string[]>> {
    const sections = new Map<string, Map<string, string[]>>();
    let cur: Map<string, string[]> | undefined;
    const lines = read(file).replace(/\\\n/g, ' ').split('\n');
    lines.forEach((raw, i) => {
      const l = raw.trim();
      if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
      const sec = /^\[([A-Za-z]+)\]$/.exec(l);
      if (sec) {
        assert.ok(!sections.has(sec[1]!), `${file}: one [${sec[1]}]`);
        sections.set(sec[1]!, (cur = new Map()));
        return;
      }
      const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(l);
      assert.ok(kv && cur, `${file}:${i + 1}: Key=Value inside a section: ${l}`);
      cur.set(kv[1]!, [...(cur.get(kv[1]!) ?? []), kv[2]!.trim()]);
    });
    return sections;
  }
  const one = (s: Map<string, string[]> | undefined, key: string): string | undefined => {
    const v = s?.get(key);
    assert.ok(v === undefined || v.length === 1, `${key} set once`);
    return v?.[0];
  };

  test('cdb2cos.service: a hardened oneshot run as cdb2cos, absolute paths, SIGTERM to node with time to stop', () => {
    const unit = parseUnit('deploy/systemd/cdb2cos.service');
    const svc = unit.get('Service');
    assert.ok(one(unit.get('Unit'), 'Description'));
    assert.match(one(unit.get('Unit'), 'After') ?? '', /\bnetwork-online\.target\b/);
    assert.equal(one(svc, 'Type'), 'oneshot');
    assert.equal(one(svc, 'User'), 'cdb2cos');
    const exec = one(svc, 'ExecStart')!.split(/\s+/);
    assert.ok(exec[0]!.startsWith('/'), `ExecStart starts with an absolute path: ${exec[0]}`);
    const script = exec.findIndex((a) => a.endsWith('/' + cliPath) || a.endsWith('/bin/cdb2cos'));
    assert.ok(script >= 0 && exec[script]!.startsWith('/'), 'the CLI by absolute path');
    assert.deepEqual(exec.slice(script + 1, script + 4), ['run', '--config', '/etc/cdb2cos/cos.ini']);
    for (const a of exec.filter((x) => /^\/|^\.\.?\//.test(x))) assert.ok(a.startsWith('/'), `${a} is absolute`);
    // The image's entry point runs node with the same V8 flags as bin/cdb2cos (which the unit starts, or
    // a node given the flags directly).
    const dockerEntry = JSON.parse(/^ENTRYPOINT\s+(\[.*\])$/m.exec(read('Dockerfile'))![1]!) as string[];
    const wrapperFlags = (/^exec .*?node\}"((?: --[\w-]+(?:=\S+)?)+) /m.exec(read('bin/cdb2cos'))?.[1] ?? '').trim().split(/\s+/);
    assert.ok(wrapperFlags.length >= 2, 'the V8 flags of bin/cdb2cos');
    assert.deepEqual(dockerEntry.slice(1, -1), wrapperFlags, 'the image uses the flags bin/cdb2cos uses');
    if (!exec[script]!.endsWith('/bin/cdb2cos')) assert.deepEqual(exec.slice(1, script), wrapperFlags);
    for (const env of ['MALLOC_ARENA_MAX=1', 'MALLOC_MMAP_THRESHOLD_=131072', 'MALLOC_TRIM_THRESHOLD_=131072']) assert.ok(read('Dockerfile').includes(env), `the image sets ${env} as bin/cdb2cos does`);

    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes'], ['KillMode', 'mixed'], ['KillSignal', 'SIGTERM']])
      assert.equal(one(svc, k!), v, `${k}=${v}`);
    assert.deepEqual((one(svc, 'ReadWritePaths') ?? '').split(/\s+/).sort(), ['/var/lib/cdb2cos', '/var/log/cdb2cos']);
    const stop = Number(/^(\d+)s?$/.exec(one(svc, 'TimeoutStopSec') ?? '')?.[1]);
    assert.ok(stop * 1000 >= 2 * signalGraceMs, `TimeoutStopSec ${stop} s ≥ twice the CLI's ${signalGraceMs} ms`);
    assert.equal(one(svc, 'TimeoutStartSec'), 'infinity', 'a long copy is not killed as a slow start');
    assert.ok(Number(one(svc, 'Nice')) > 0, 'niced');
    assert.ok(one(svc, 'IOSchedulingClass') === 'idle' || (one(svc, 'IOSchedulingClass') === 'best-effort' && Number(one(svc, 'IOSchedulingPriority')) >= 4), 'low I/O priority');
    // V8 compiles code at run time: write-xor-execute memory would kill node.
    assert.equal(svc?.get('MemoryDenyWriteExecute'), undefined);
  });

  test('cdb2cos.timer: a calendar time with a randomized delay, persistent, installed under timers.target', () => {
    const unit = parseUnit('deploy/systemd/cdb2cos.timer');
    const timer = unit.get('Timer');
    assert.match(one(timer, 'OnCalendar') ?? '', /\S/);
    assert.match(one(timer, 'RandomizedDelaySec') ?? '', /^\d+(s|min|m|h)?$/);
    assert.equal(one(timer, 'Persistent'), 'true');
    assert.ok(one(timer, 'Unit') === undefined || one(timer, 'Unit') === 'cdb2cos.service', 'it starts cdb2cos.service');
    assert.equal(one(unit.get('Install'), 'WantedBy'), 'timers.target');
  });

});

test('the README names every file of deploy/', () => {
  const readme = read('README.md');
  for (const f of walkFiles('deploy', () => false)) assert.ok(readme.includes(f), `README names ${f}`);
});
