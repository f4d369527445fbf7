/**
 * A small reader for the subset of Bicep our templates use: enough to find every parameter, variable,
 * resource, module and output and the object literals inside them, so tests can check what a
 * deployment would do without a Bicep compiler. Comments and `#disable-next-line` pragmas are
 * dropped by the tokenizer, so text in a comment never counts as code.
 */

export type TokenKind = "ident" | "string" | "number" | "punct" | "newline";

export interface Token {
  kind: TokenKind;
  /** For strings: the raw content between the quotes (escapes and `${…}` kept as written). */
  value: string;
  line: number;
}

const PUNCT = [
  "==",
  "!=",
  ">=",
  "<=",
  "&&",
  "||",
  "??",
  ".?",
  "=~",
  "!~",
  "::",
  "=>",
  ...",{}[]()<>:.?!=@+-*/%|&",
];

/** Splits Bicep source into tokens; comments vanish, newlines stay (they separate statements). */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const push = (kind: TokenKind, value: string) => tokens.push({ kind, value, line });
  while (i < source.length) {
    const c = source[i]!;
    if (c === "\n") {
      push("newline", "\n");
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") {
      i++;
    } else if (source.startsWith("//", i)) {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (source.startsWith("/*", i)) {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? source.length : end + 2;
      const newlines = source.slice(i, stop).split("\n").length - 1;
      if (newlines > 0) push("newline", "\n");
      line += newlines;
      i = stop;
    } else if (c === "#" && (tokens.length === 0 || tokens[tokens.length - 1]!.kind === "newline")) {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (source.startsWith("'''", i)) {
      const end = source.indexOf("'''", i + 3);
      const stop = end < 0 ? source.length : end;
      push("string", source.slice(i + 3, stop));
      line += source.slice(i, stop).split("\n").length - 1;
      i = stop + 3;
    } else if (c === "'") {
      let j = i + 1;
      let depth = 0;
      while (j < source.length) {
        const d = source[j]!;
        if (d === "\\") j += 2;
        else if (depth === 0 && d === "'") break;
        else if (source.startsWith("${", j)) {
          depth++;
          j += 2;
        } else if (depth > 0 && d === "}") {
          depth--;
          j++;
        } else if (depth > 0 && d === "'") {
          // a string inside an interpolation
          j++;
          while (j < source.length && source[j] !== "'") j += source[j] === "\\" ? 2 : 1;
          j++;
        } else j++;
      }
      push("string", source.slice(i + 1, j));
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      let j = i;
      while (j < source.length && /[0-9.]/.test(source[j]!)) j++;
      push("number", source.slice(i, j));
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i;
      while (j < source.length && /[A-Za-z0-9_]/.test(source[j]!)) j++;
      push("ident", source.slice(i, j));
      i = j;
    } else {
      const p = PUNCT.find((op) => source.startsWith(op, i));
      push("punct", p ?? c);
      i += (p ?? c).length;
    }
  }
  push("newline", "\n");
  return tokens;
}

// ---- values ----------------------------------------------------------------------------------------

export type Value =
  | { kind: "object"; entries: { key: string; value: Value }[] }
  | { kind: "array"; items: Value[] }
  | { kind: "string"; value: string }
  | { kind: "for"; header: Token[]; body: Value }
  | { kind: "if"; condition: Token[]; body: Value }
  /** Any other expression, kept as its tokens. */
  | { kind: "expr"; tokens: Token[] };

export type ObjectValue = Extract<Value, { kind: "object" }>;

/** The declarations of one file. */
export interface BicepFile {
  path: string;
  params: Map<string, { type: string; defaultValue?: Value }>;
  vars: Map<string, Value>;
  resources: Resource[];
  modules: Module[];
  outputs: Map<string, Value>;
  /** Every token, for checks that look for a word anywhere in the code. */
  tokens: Token[];
}

export interface Resource {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  /** The `if (…)` condition tokens, when the resource is conditional. */
  condition?: Token[];
  /** The `for … in …` header tokens, when the resource is a loop. */
  loop?: Token[];
  body: ObjectValue;
}

export interface Module {
  symbol: string;
  path: string;
  condition?: Token[];
  loop?: Token[];
  body: ObjectValue;
}

const OPEN: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.pos + offset];
  }
  next(): Token {
    const t = this.tokens[this.pos++];
    if (!t) throw new Error("unexpected end of Bicep source");
    return t;
  }
  done(): boolean {
    return this.pos >= this.tokens.length;
  }
  skipNewlines(): void {
    while (this.peek()?.kind === "newline") this.pos++;
  }
  expect(value: string): Token {
    const t = this.next();
    if (t.value !== value) throw new Error(`line ${t.line}: expected '${value}', found '${t.value}'`);
    return t;
  }

  /** The tokens of a balanced group starting at the current opening bracket, brackets excluded. */
  group(): Token[] {
    const open = this.next();
    const close = OPEN[open.value];
    if (!close) throw new Error(`line ${open.line}: expected a bracket, found '${open.value}'`);
    const inner: Token[] = [];
    let depth = 1;
    for (;;) {
      const t = this.next();
      if (t.kind === "punct" && t.value in OPEN) depth++;
      if (t.kind === "punct" && Object.values(OPEN).includes(t.value)) depth--;
      if (depth === 0) return inner;
      inner.push(t);
    }
  }

  /** The tokens of an expression up to a newline, comma or closing bracket at depth 0. */
  expressionTokens(): Token[] {
    const out: Token[] = [];
    let depth = 0;
    for (;;) {
      const t = this.peek();
      if (!t) return out;
      if (
        depth === 0 &&
        (t.kind === "newline" || (t.kind === "punct" && [",", ")", "]", "}"].includes(t.value)))
      )
        return out;
      // a newline inside brackets, or after an operator, continues the expression
      if (t.kind === "punct" && t.value in OPEN) depth++;
      if (t.kind === "punct" && Object.values(OPEN).includes(t.value)) depth--;
      out.push(this.next());
    }
  }

  value(): Value {
    const tokens = this.expressionTokens();
    return toValue(tokens);
  }
}

/** Builds a value from the tokens of one complete expression. */
function toValue(tokens: Token[]): Value {
  const meaningful = tokens.filter((t) => t.kind !== "newline");
  const first = meaningful[0];
  if (!first) return { kind: "expr", tokens: [] };
  const inner = new Parser([...tokens]);
  inner.skipNewlines();
  if (first.kind === "ident" && first.value === "if" && meaningful[1]?.value === "(") {
    inner.next();
    const condition = inner.group();
    const body = toValue(rest(inner));
    return { kind: "if", condition, body };
  }
  if (first.kind === "punct" && (first.value === "{" || first.value === "[")) {
    const start = inner.peek();
    const group = inner.group();
    inner.skipNewlines();
    if (inner.done()) {
      if (start?.value === "{") return parseObject(group);
      const body = new Parser(group);
      body.skipNewlines();
      if (body.peek()?.kind === "ident" && body.peek()?.value === "for") return parseFor(group);
      return parseArray(group);
    }
  }
  if (meaningful.length === 1 && first.kind === "string") return { kind: "string", value: first.value };
  return { kind: "expr", tokens: meaningful };
}

function rest(p: Parser): Token[] {
  const out: Token[] = [];
  while (!p.done()) out.push(p.next());
  return out;
}

function parseObject(group: Token[]): ObjectValue {
  const p = new Parser(group);
  const entries: { key: string; value: Value }[] = [];
  for (;;) {
    p.skipNewlines();
    while (p.peek()?.value === ",") {
      p.next();
      p.skipNewlines();
    }
    if (p.done()) return { kind: "object", entries };
    const key = p.next();
    if (key.kind !== "ident" && key.kind !== "string")
      throw new Error(`line ${key.line}: expected a property name, found '${key.value}'`);
    p.expect(":");
    p.skipNewlines();
    entries.push({ key: key.value, value: p.value() });
  }
}

function parseArray(group: Token[]): Value {
  const p = new Parser(group);
  const items: Value[] = [];
  for (;;) {
    p.skipNewlines();
    while (p.peek()?.value === ",") {
      p.next();
      p.skipNewlines();
    }
    if (p.done()) return { kind: "array", items };
    items.push(p.value());
  }
}

function parseFor(group: Token[]): Value {
  const p = new Parser(group);
  p.skipNewlines();
  p.next(); // for
  const header: Token[] = [];
  let depth = 0;
  for (;;) {
    const t = p.next();
    if (depth === 0 && t.value === ":") break;
    if (t.value in OPEN) depth++;
    if (Object.values(OPEN).includes(t.value)) depth--;
    header.push(t);
  }
  p.skipNewlines();
  return { kind: "for", header, body: toValue(rest(p)) };
}

/** Reads one Bicep file into its declarations. */
export function parseBicep(path: string, source: string): BicepFile {
  const tokens = tokenize(source);
  const file: BicepFile = {
    path,
    params: new Map(),
    vars: new Map(),
    resources: [],
    modules: [],
    outputs: new Map(),
    tokens: tokens.filter((t) => t.kind !== "newline"),
  };
  const p = new Parser(tokens);
  for (;;) {
    p.skipNewlines();
    if (p.done()) return file;
    const head = p.next();
    if (head.value === "@") {
      // decorator: @name(...) up to the end of its call
      p.next();
      if (p.peek()?.value === "(") p.group();
      continue;
    }
    switch (head.value) {
      case "param": {
        const name = p.next().value;
        const type = p.next().value;
        let defaultValue: Value | undefined;
        if (p.peek()?.value === "=") {
          p.next();
          defaultValue = p.value();
        } else p.expressionTokens();
        file.params.set(name, defaultValue === undefined ? { type } : { type, defaultValue });
        break;
      }
      case "var": {
        const name = p.next().value;
        p.expect("=");
        p.skipNewlines();
        file.vars.set(name, p.value());
        break;
      }
      case "output": {
        const name = p.next().value;
        p.next(); // type
        p.expect("=");
        file.outputs.set(name, p.value());
        break;
      }
      case "resource":
      case "module": {
        const symbol = p.next().value;
        const target = p.next();
        if (target.kind !== "string") throw new Error(`line ${target.line}: expected a type or path string`);
        let existing = false;
        if (p.peek()?.value === "existing") {
          p.next();
          existing = true;
        }
        p.expect("=");
        p.skipNewlines();
        const line = p.peek()?.line ?? 0;
        const shape = unwrap(p.value(), line);
        if (head.value === "resource") {
          const [type, apiVersion = ""] = target.value.split("@");
          file.resources.push({ symbol, type: type!, apiVersion, existing, ...shape });
        } else file.modules.push({ symbol, path: target.value, ...shape });
        break;
      }
      default:
        // targetScope, import, type, func, metadata: not needed by the checks
        p.expressionTokens();
    }
  }
}

/** A resource or module value: `{…}`, `if (…) {…}`, `[for …: {…}]` or `[for …: if (…) {…}]`. */
function unwrap(value: Value, line: number): { body: ObjectValue; condition?: Token[]; loop?: Token[] } {
  let loop: Token[] | undefined;
  let condition: Token[] | undefined;
  let v = value;
  if (v.kind === "for") {
    loop = v.header;
    v = v.body;
  }
  if (v.kind === "if") {
    condition = v.condition;
    v = v.body;
  }
  if (v.kind !== "object") throw new Error(`line ${line}: a resource or module body must be an object`);
  return { body: v, ...(condition ? { condition } : {}), ...(loop ? { loop } : {}) };
}

// ---- helpers for checks ------------------------------------------------------------------------------

/** The value at a dotted path of object keys (`properties.siteConfig.minTlsVersion`). */
export function at(value: Value | undefined, path: string): Value | undefined {
  let v = value;
  for (const key of path.split(".")) {
    if (v?.kind !== "object") return undefined;
    v = v.entries.find((e) => e.key === key)?.value;
  }
  return v;
}

/** The source-like text of a value, for messages and simple comparisons. */
export function text(value: Value | undefined): string {
  if (!value) return "";
  switch (value.kind) {
    case "string":
      return `'${value.value}'`;
    case "expr":
      return tokensText(value.tokens);
    case "object":
      return `{ ${value.entries.map((e) => `${e.key}: ${text(e.value)}`).join(", ")} }`;
    case "array":
      return `[${value.items.map(text).join(", ")}]`;
    case "for":
      return `[for ${tokensText(value.header)}: ${text(value.body)}]`;
    case "if":
      return `if (${tokensText(value.condition)}) ${text(value.body)}`;
  }
}

export function tokensText(tokens: Token[]): string {
  return tokens
    .filter((t) => t.kind !== "newline")
    .map((t) => (t.kind === "string" ? `'${t.value}'` : t.value))
    .join(" ")
    .replace(/ ?([.(),[\]]) ?/g, "$1")
    .replace(/,/g, ", ");
}

/** The identifiers an expression mentions (string interpolations included). */
export function identifiers(value: Value | Token[] | undefined): Set<string> {
  const out = new Set<string>();
  const visitTokens = (tokens: Token[]) => {
    for (const t of tokens) {
      if (t.kind === "ident") out.add(t.value);
      if (t.kind === "string")
        for (const m of t.value.matchAll(/\$\{([^}]*)\}/g))
          for (const id of m[1]!.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) out.add(id);
    }
  };
  const visit = (v: Value | undefined) => {
    if (!v) return;
    switch (v.kind) {
      case "expr":
        visitTokens(v.tokens);
        break;
      case "string":
        visitTokens([{ kind: "string", value: v.value, line: 0 }]);
        break;
      case "object":
        v.entries.forEach((e) => visit(e.value));
        break;
      case "array":
        v.items.forEach(visit);
        break;
      case "for":
        visitTokens(v.header);
        visit(v.body);
        break;
      case "if":
        visitTokens(v.condition);
        visit(v.body);
        break;
    }
  };
  if (Array.isArray(value)) visitTokens(value);
  else visit(value);
  return out;
}
