#!/usr/bin/env node
/**
 * Generates docs/configuration.md from the gateway's zod `ConfigSchema`
 * (packages/gateway/dist/config.js, so build first: `pnpm docs:config` does).
 * Types, ranges and defaults come from the schema (`z.toJSONSchema` per
 * key); descriptions are the TSDoc comments on the schema's keys in
 * packages/gateway/src/config.ts and, for the `notifications` section the
 * gateway takes from the relay, packages/relay/src/channels-config-schema.ts,
 * read with the TypeScript parser, so the source stays the single place to
 * document a key. Map keys chosen by the user (channel, host and user
 * names) appear as `<name>`, `<host>`, `<user>` in the key paths.
 *
 *   node scripts/gen-config-docs.mjs            write docs/configuration.md
 *   node scripts/gen-config-docs.mjs --stdout   print it instead (the doc test compares)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// yaml is the gateway's dependency, not the root's.
const { parse: parseYaml, stringify: stringifyYaml } = createRequire(`${ROOT}packages/gateway/package.json`)('yaml');
/** Schema sources whose TSDoc describes the keys, and the built modules exporting their schemas. */
const SOURCES = [
  { src: `${ROOT}packages/gateway/src/config.ts`, dist: `${ROOT}packages/gateway/dist/config.js` },
  { src: `${ROOT}packages/relay/src/channels-config-schema.ts`, dist: `${ROOT}packages/relay/dist/channels-config-schema.js` },
  { src: `${ROOT}packages/gateway/src/engines/config.ts`, dist: `${ROOT}packages/gateway/dist/engines/config.js` },
];
/** Placeholder path segments for the keys of user-named maps, by the map's path. */
const MAP_KEYS = { 'notifications.channels': '<name>', 'notifications.hosts': '<host>', 'notifications.users': '<user>',
  'escalation.policies': '<name>', 'escalation.hosts': '<host>', 'escalation.users': '<user>' };
const OUT = `${ROOT}docs/configuration.md`;

/** An example for an openITCOCKPIT host; validated against the schema on every run so it cannot rot. */
const EXAMPLE = `# /etc/pushgate/config.yml: pushgate beside openITCOCKPIT (behind its nginx)
listen:
  host: 127.0.0.1
  port: 8083
directory:
  type: openitcockpit
  mysqlCnf: /opt/openitc/etc/mysql/mysql.cnf
auth:
  mode: both
  allowedOrigins:
    - https://oitc.example.com
log:
  level: info
`;

/**
 * TSDoc of every key, as `<SchemaConst>:<key path inside it>` (and
 * `<SchemaConst>` for the constant's own comment).
 */
function readDocs(sourceText, docs = new Map()) {
  const sf = ts.createSourceFile('config.ts', sourceText, ts.ScriptTarget.Latest, true);
  const docOf = (node) => ts.getJSDocCommentsAndTags(node)
    .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
    .join(' ').replace(/\s+/g, ' ').trim();
  // Plain object constants spread into shapes (`...common`): their keys' TSDoc, by constant name.
  const spreads = new Map();
  for (const stmt of sf.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    for (const decl of stmt.declarationList.declarations) {
      if (!ts.isIdentifier(decl.name) || !decl.initializer || !ts.isObjectLiteralExpression(decl.initializer)) continue;
      const keys = new Map();
      for (const prop of decl.initializer.properties) {
        const text = ts.isPropertyAssignment(prop) ? docOf(prop) : '';
        if (text) keys.set(prop.name.getText(sf), text);
      }
      spreads.set(decl.name.text, keys);
    }
  }
  const visitObject = (obj, name, prefix) => {
    for (const prop of obj.properties) {
      if (ts.isSpreadAssignment(prop) && ts.isIdentifier(prop.expression)) {
        for (const [key, text] of spreads.get(prop.expression.text) ?? []) docs.set(`${name}:${prefix}${key}`, text);
        continue;
      }
      if (!ts.isPropertyAssignment(prop)) continue;
      const key = prefix + prop.name.getText(sf);
      const text = docOf(prop);
      if (text) docs.set(`${name}:${key}`, text);
      findObjects(prop.initializer, name, `${key}.`);
    }
  };
  // Object literals that are z.strictObject/z.object shapes, not refine options or default values.
  const findObjects = (node, name, prefix) => {
    if (ts.isCallExpression(node) && /(^|\.)(strictObject|object)$/.test(node.expression.getText(sf))) {
      const arg = node.arguments[0];
      if (arg && ts.isObjectLiteralExpression(arg)) visitObject(arg, name, prefix);
      ts.forEachChild(node.expression, (c) => findObjects(c, name, prefix));
      return;
    }
    ts.forEachChild(node, (c) => findObjects(c, name, prefix));
  };
  for (const stmt of sf.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    for (const decl of stmt.declarationList.declarations) {
      if (!ts.isIdentifier(decl.name) || !decl.initializer || !decl.name.text.endsWith('Schema')) continue;
      const text = docOf(stmt);
      if (text) docs.set(decl.name.text, text);
      findObjects(decl.initializer, decl.name.text, '');
    }
  }
  return docs;
}

/**
 * Descriptions for self-explanatory keys that carry no TSDoc, by the end of
 * their path. Anything else undocumented fails generation.
 */
const FALLBACK = [
  ['listen.host', 'Bind address.'],
  ['listen.port', 'TCP port.'],
  ['replay.maxEvents', 'Most events kept for replay (0 = no replay).'],
  ['replay.maxAgeMs', 'Longest age of a replayed event.'],
  ['replay.maxBytes', 'Most bytes of replayed events kept, all users together (the oldest leave first).'],
  ['pending.maxIds', 'Most pending rows re-checked.'],
  ['pending.maxAgeMs', 'Longest time a pending row is re-checked.'],
  ['database.host', 'Database host.'],
  ['database.port', 'Database port.'],
  ['database.user', 'Database user.'],
  ['database.database', 'Database name.'],
  ['enabled', 'Turn this section on.'],
  ['log.level', 'Least severity logged (pino levels); logs go to stdout as JSON lines.'],
  ['auth.mode', '`shared-key`, `token` or `both`; see the section text.'],
];
const fallback = (path) => FALLBACK.find(([end]) => path === end || path.endsWith(`.${end}`))?.[1] ?? '';

function typeOf(js) {
  if (js.const !== undefined) return `\`${JSON.stringify(js.const)}\``;
  if (js.enum) return js.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ');
  if (js.type === 'integer' || js.type === 'number') {
    const lo = js.exclusiveMinimum !== undefined ? `> ${js.exclusiveMinimum}` : js.minimum !== undefined ? `≥ ${js.minimum}` : undefined;
    const hi = js.maximum !== undefined && js.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${js.maximum}` : undefined;
    const range = [lo, hi].filter(Boolean).join(', ');
    return range ? `${js.type} (${range})` : js.type;
  }
  if (js.type === 'array') return `list of ${js.items ? typeOf(js.items) : 'any'}`;
  if (js.type === 'object') return 'map';
  if (js.type === 'string') return 'string';
  if (js.type === 'boolean') return 'boolean';
  return 'any';
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Walk the zod schema and collect one row per key: path, type, default, description. */
function collect(z, schema, names, docs) {
  const rows = [];
  const missing = [];
  // `entry`: the schema is the value type of a map at `entry` (one row for it, no default of its own).
  const walk = (s, path, anchor, rel, when, entry) => {
    let def = s._zod.def;
    let dflt;
    let optional = false;
    for (;;) {
      if (def.type === 'default' || def.type === 'prefault') {
        if (dflt === undefined) dflt = { value: def.defaultValue, section: def.type === 'prefault' };
      } else if (def.type === 'optional') optional = true;
      else break;
      s = def.innerType;
      def = s._zod.def;
    }
    const name = names.get(s);
    const description = entry ? `One entry of \`${entry}\`.` : docs.get(`${anchor}:${rel}`) ?? (name ? docs.get(name) : undefined) ?? '';
    const condition = when ? `(with \`${when}\`) ` : '';
    if (def.type === 'record') {
      let value = def.valueType;
      while (['default', 'prefault', 'optional'].includes(value._zod.def.type)) value = value._zod.def.innerType;
      const vdef = value._zod.def;
      if (vdef.type === 'object' || (vdef.type === 'union' && vdef.discriminator)) {
        if (!description) missing.push(path);
        const defaultText = dflt !== undefined ? `\`${JSON.stringify(dflt.value)}\`` : optional ? 'unset' : '**required**';
        rows.push({ path, type: 'map', default: defaultText, description: condition + description, section: true });
        walk(value, `${path}.${MAP_KEYS[path] ?? '<key>'}`, anchor, rel, when, path);
        return;
      }
    }
    if (def.type === 'object') {
      const defaultText = entry ? '–' : optional && dflt === undefined ? 'unset' : dflt?.section ? 'see keys' : dflt ? `\`${JSON.stringify(dflt.value)}\`` : '**required**';
      if (path) rows.push({ path, type: 'section', default: defaultText, description: condition + description, section: true });
      const a = name ?? anchor;
      for (const [key, child] of Object.entries(def.shape)) {
        walk(child, path ? `${path}.${key}` : key, a, name ? key : rel ? `${rel}.${key}` : key, when);
      }
      return;
    }
    if (def.type === 'union' && def.discriminator) {
      const d = def.discriminator;
      const values = def.options.map((o) => o._zod.def.shape[d]._zod.def.values[0]);
      rows.push({ path, type: 'section', default: entry ? '–' : dflt ? `\`${JSON.stringify(dflt.value)}\`` : '**required**', description: `${description}${description ? ' ' : ''}One of the variants below, chosen by \`${d}\`.`.trim(), section: true });
      const variants = def.options.map((o, i) => {
        const own = docs.get(`${names.get(o)}:${d}`);
        return own ? `\`${values[i]}\`: ${own.replace(/\.$/, '')}.` : `\`${values[i]}\`.`;
      });
      rows.push({ path: `${path}.${d}`, type: values.map((v) => `\`${JSON.stringify(v)}\``).join(' | '), default: '**required**', description: `The variant; the keys below marked "with" belong to one. ${variants.join(' ')}` });
      for (const [i, option] of def.options.entries()) {
        const oname = names.get(option);
        for (const [key, child] of Object.entries(option._zod.def.shape)) {
          if (key === d) continue;
          walk(child, `${path}.${key}`, oname ?? anchor, key, `${d}: ${values[i]}`);
        }
      }
      return;
    }
    const js = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
    if (!description && !fallback(path)) missing.push(path);
    const defaultText = dflt !== undefined ? `\`${JSON.stringify(dflt.value)}\`` : optional ? 'unset' : '**required**';
    rows.push({ path, type: typeOf(js), default: defaultText, description: condition + (description || fallback(path)) });
  };
  walk(schema, '', 'ConfigSchema', '', undefined);
  if (missing.length) throw new Error(`undocumented configuration keys (add a TSDoc comment in ${SOURCES.map((x) => x.src.slice(ROOT.length)).join(' or ')}): ${missing.join(', ')}`);
  return rows;
}

/** The complete docs/configuration.md text. */
export async function renderConfigDoc() {
  const [config, ...others] = await Promise.all(SOURCES.map((x) => import(pathToFileURL(x.dist).href)));
  const { z } = await import(pathToFileURL(`${ROOT}packages/gateway/node_modules/zod/index.js`).href);
  const names = new Map();
  for (const mod of [config, ...others]) {
    for (const [key, value] of Object.entries(mod)) if (key.endsWith('Schema') && value?._zod && !names.has(value)) names.set(value, key);
  }
  const docs = new Map();
  for (const x of SOURCES) readDocs(readFileSync(x.src, 'utf8'), docs);
  const rows = collect(z, config.ConfigSchema, names, docs);
  // The example must stay valid: a schema change that breaks it fails generation (and the doc test).
  const checked = config.ConfigSchema.safeParse(parseYaml(EXAMPLE));
  if (!checked.success) throw new Error(`the example in scripts/gen-config-docs.mjs no longer validates:\n${z.prettifyError(checked.error)}`);
  const defaults = config.ConfigSchema.parse({});

  const out = [
    '<!-- Generated by scripts/gen-config-docs.mjs from packages/gateway/src/config.ts and packages/relay/src/channels-config-schema.ts: do not edit; run `pnpm docs:config`. -->',
    '# Configuration reference',
    '',
    '`pushgate serve --config <file>` reads one YAML file. It is validated once at',
    'startup against strict schemas: an unknown key is an error (a typo never',
    'silently disables a feature), and a wrong value names its path',
    '(`→ at listen.port`). Every key below is optional unless marked **required**;',
    'relative paths are resolved against the directory of the config file.',
    'Durations ending in `Ms` are milliseconds, `Seconds` or `Sec` seconds, `Bytes` bytes.',
    'In key paths, `<name>`, `<host>` and `<user>` stand for names you choose',
    '(a channel\'s name, a host name, an openITCOCKPIT userId).',
    '',
    '## Example',
    '',
    '```yaml',
    EXAMPLE.trimEnd(),
    '```',
    '',
  ];
  const tops = [...new Set(rows.map((r) => r.path.split('.')[0]))];
  const scalars = [];
  for (const top of tops) {
    const own = rows.filter((r) => r.path === top || r.path.startsWith(`${top}.`));
    const head = own[0];
    if (own.length === 1 && !head.section) {
      scalars.push(head);
      continue;
    }
    out.push(`## \`${top}\``, '');
    if (head.description) out.push(head.description, '');
    out.push('| Key | Type | Default | Description |', '|---|---|---|---|');
    for (const r of own.slice(1)) out.push(`| \`${r.path}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description)} |`);
    out.push('');
  }
  if (scalars.length) {
    out.push('## Top-level keys', '', '| Key | Type | Default | Description |', '|---|---|---|---|');
    for (const r of scalars) out.push(`| \`${r.path}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description)} |`);
    out.push('');
  }
  out.push(
    '## All defaults',
    '',
    'The effective configuration of an empty file (`{}`), as YAML:',
    '',
    '```yaml',
    stringifyYaml(defaults).trimEnd(),
    '```',
    '',
  );
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const text = await renderConfigDoc();
  if (process.argv.includes('--stdout')) process.stdout.write(text);
  else {
    writeFileSync(OUT, text);
    process.stdout.write(`wrote ${OUT}\n`);
  }
}
