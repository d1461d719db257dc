/**
 * The Bot API 9.4 schema (methods, their parameters, and every type's fields), read once from the
 * copy kept next to this file. Derived from the MIT-licensed botapi.json of tgapis/botapidocs; see
 * docs/sandbox-chat.md. Method names are case-insensitive in the Bot API, so lookups are too.
 */
import { readFileSync } from 'node:fs';

export interface FieldSpec {
  readonly name: string;
  /** Alternatives, e.g. ['Integer', 'String'] or ['Array of Array of InlineKeyboardButton']. */
  readonly types: readonly string[];
  readonly required: boolean;
}

export interface MethodSpec {
  readonly name: string;
  readonly returns: readonly string[];
  readonly params: readonly FieldSpec[];
}

export interface TypeSpec {
  readonly name: string;
  readonly fields: readonly FieldSpec[];
  /** Set for unions such as BotCommandScope: a value must be one of these types. */
  readonly subtypes: readonly string[] | null;
}

export interface BotApiSpec {
  readonly version: string;
  method(name: string): MethodSpec | undefined;
  type(name: string): TypeSpec | undefined;
  readonly methodNames: readonly string[];
}

interface RawSpec {
  version: string;
  methods: Record<string, { returns: string[]; params: FieldSpec[] }>;
  types: Record<string, { fields: FieldSpec[] | null; subtypes: string[] | null }>;
}

let loaded: BotApiSpec | null = null;

/** The spec, parsed on first use and shared (it is immutable). */
export function botApiSpec(): BotApiSpec {
  loaded ??= parseSpec(JSON.parse(readFileSync(new URL('./botapi-9.4.json', import.meta.url), 'utf8')) as RawSpec);
  return loaded;
}

function parseSpec(raw: RawSpec): BotApiSpec {
  const methods = new Map<string, MethodSpec>();
  for (const [name, method] of Object.entries(raw.methods)) {
    methods.set(name.toLowerCase(), { name, returns: method.returns, params: method.params });
  }
  const types = new Map<string, TypeSpec>();
  for (const [name, type] of Object.entries(raw.types)) {
    types.set(name, { name, fields: type.fields ?? [], subtypes: type.subtypes });
  }
  return {
    version: raw.version,
    method: (name) => methods.get(name.toLowerCase()),
    type: (name) => types.get(name),
    methodNames: [...methods.values()].map((m) => m.name),
  };
}

/** 'Array of Array of X' → { depth: 2, item: 'X' }. */
export function unwrapArray(type: string): { depth: number; item: string } {
  let depth = 0;
  let item = type;
  while (item.startsWith('Array of ')) {
    item = item.slice('Array of '.length);
    depth++;
  }
  return { depth, item };
}
