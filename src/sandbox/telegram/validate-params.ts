/**
 * Checks one Bot API call against the 9.4 schema: every parameter is one the method has, every
 * required one is present, and every value has one of the accepted types, objects checked field by
 * field down to the leaves (InlineKeyboardMarkup → InlineKeyboardButton → WebAppInfo …).
 *
 * Form bodies (query string, urlencoded, multipart) carry only strings, so their values are first
 * converted the way Telegram reads them: numbers, booleans, JSON for objects, `attach://name` for
 * uploaded files. JSON bodies must already use the schema's types.
 *
 * Deliberately stricter than Telegram in two ways, so that bot bugs surface here: Telegram silently
 * ignores unknown parameters and unknown object fields (a typo such as `parse_mod` would quietly
 * send unformatted text), and it converts any JSON value to a string (`text: 42` works).
 */
import { badRequest, DESCRIPTIONS } from './bot-api-error.ts';
import { botApiSpec, unwrapArray, type BotApiSpec, type MethodSpec, type TypeSpec } from './bot-api-spec.ts';

export interface UploadedFile {
  /** The multipart part's name (the `attach://` name, or the parameter's own name). */
  readonly partName: string;
  readonly filename: string;
  readonly contentType: string;
  readonly data: Buffer;
}

/** A parameter whose value is an uploaded file (InputFile). */
export class Upload {
  readonly file: UploadedFile;
  constructor(file: UploadedFile) {
    this.file = file;
  }
}

export type BodySource = 'json' | 'form';

/** Required parameters whose absence Telegram words specially. */
const MISSING: Readonly<Record<string, string>> = {
  chat_id: 'chat_id is empty',
  text: DESCRIPTIONS.textEmpty,
  photo: 'there is no photo in the request',
  document: 'there is no document in the request',
  message_id: 'message identifier is not specified',
  callback_query_id: 'parameter "callback_query_id" is required',
  url: 'parameter "url" is required',
};

/** Unions whose members are told apart by a `type` field named after the member. */
const DISCRIMINATED_UNIONS = new Set(['BotCommandScope', 'MenuButton', 'ReactionType', 'InputMedia', 'InputPaidMedia', 'BackgroundFill', 'BackgroundType', 'InputProfilePhoto', 'InputStoryContent', 'InlineQueryResult']);

/**
 * Returns the call's parameters with form strings converted and uploads wrapped in `Upload`, or
 * throws Telegram's 400 naming the first problem.
 */
export function validateCall(method: MethodSpec, fields: Readonly<Record<string, unknown>>, files: ReadonlyMap<string, UploadedFile>, source: BodySource): Record<string, unknown> {
  const spec = botApiSpec();
  const known = new Map(method.params.map((p) => [p.name, p]));
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined && !known.has(name)) throw badRequest(`parameter "${name}" is not a parameter of ${method.name} in Bot API ${spec.version.replace('Bot API ', '')}`);
  }
  const usedParts = new Set<string>();
  const params: Record<string, unknown> = {};
  for (const param of method.params) {
    let value = fields[param.name];
    if (value === null || value === undefined) {
      const part = param.types.includes('InputFile') ? files.get(param.name) : undefined;
      if (part) {
        usedParts.add(part.partName);
        params[param.name] = new Upload(part);
        continue;
      }
      if (param.required) throw badRequest(MISSING[param.name] ?? `parameter "${param.name}" is required`);
      continue;
    }
    value = convert(value, param.types, param.name, files, usedParts, source);
    const problem = checkValue(spec, value, param.types, param.name);
    if (problem) throw badRequest(problem);
    params[param.name] = value;
  }
  for (const part of files.keys()) {
    if (!usedParts.has(part)) throw badRequest(`the uploaded file "${part}" is not used by any parameter (send it as a parameter of type InputFile, or refer to it with attach://${part})`);
  }
  return params;
}

function convert(value: unknown, types: readonly string[], name: string, files: ReadonlyMap<string, UploadedFile>, usedParts: Set<string>, source: BodySource): unknown {
  if (typeof value !== 'string') return value;
  if (value.startsWith('attach://') && types.includes('InputFile')) {
    const part = files.get(value.slice('attach://'.length));
    if (!part) throw badRequest(MISSING[name] ?? `there is no ${name} in the request`);
    usedParts.add(part.partName);
    return new Upload(part);
  }
  const wantsStructure = types.some((t) => t.startsWith('Array of ') || botApiSpec().type(t) !== undefined) && !types.includes('InputFile');
  if (source === 'form') {
    if (types.includes('Integer') && /^-?\d+$/.test(value.trim())) return Number(value.trim());
    if (types.includes('Float') && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
    if (types.includes('Boolean')) {
      const flag = value.trim().toLowerCase();
      if (flag === 'true' || flag === '1') return true;
      if (flag === 'false' || flag === '0') return false;
    }
  }
  // Objects may arrive JSON-encoded in any body; Telegram decodes them.
  if (wantsStructure && (source === 'form' || !types.includes('String'))) {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      throw badRequest(`can't parse ${name} JSON object`);
    }
  }
  return value;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Upload);

function describe(path: string): string {
  return /[.[]/.test(path) ? `field "${path}"` : `parameter "${path}"`;
}

/** Null when `value` has one of `types`; otherwise the most helpful reason it has none. */
export function checkValue(spec: BotApiSpec, value: unknown, types: readonly string[], path: string): string | null {
  const failures: { problem: string; score: number }[] = [];
  for (const type of types) {
    const problem = checkAgainst(spec, value, type, path);
    if (problem === null) return null;
    failures.push({ problem, score: affinity(spec, value, type) });
  }
  failures.sort((a, b) => b.score - a.score);
  const best = failures[0];
  if (!best) return null;
  if (best.score === 0 && types.length > 1) return `${describe(path)} must be of type ${types.join(' or ')}`;
  return best.problem;
}

/** How much a value looks like an object type: the number of its keys the type has. */
function affinity(spec: BotApiSpec, value: unknown, type: string): number {
  const { depth, item } = unwrapArray(type);
  if (depth > 0) return Array.isArray(value) ? 1 : 0;
  const typeSpec = spec.type(item);
  if (!typeSpec || !isPlainObject(value)) return 0;
  const names = new Set(fieldsOf(spec, typeSpec));
  return Object.keys(value).filter((k) => names.has(k)).length + 1;
}

function fieldsOf(spec: BotApiSpec, type: TypeSpec): string[] {
  if (!type.subtypes) return type.fields.map((f) => f.name);
  return type.subtypes.flatMap((s) => {
    const sub = spec.type(s);
    return sub ? fieldsOf(spec, sub) : [];
  });
}

function checkAgainst(spec: BotApiSpec, value: unknown, type: string, path: string): string | null {
  const { depth, item } = unwrapArray(type);
  if (depth > 0) {
    if (!Array.isArray(value)) return `${describe(path)} must be of type ${type}`;
    const inner = depth > 1 ? `${'Array of '.repeat(depth - 1)}${item}` : item;
    for (const [index, element] of value.entries()) {
      const problem = checkValue(spec, element, [inner], `${path}[${index}]`);
      if (problem) return problem;
    }
    return null;
  }
  switch (item) {
    case 'Integer':
      return typeof value === 'number' && Number.isSafeInteger(value) ? null : `${describe(path)} must be of type Integer`;
    case 'Float':
      return typeof value === 'number' && Number.isFinite(value) ? null : `${describe(path)} must be of type Float`;
    case 'Boolean':
      return typeof value === 'boolean' ? null : `${describe(path)} must be of type Boolean`;
    case 'String':
      return typeof value === 'string' ? null : `${describe(path)} must be of type String`;
    case 'InputFile':
      return value instanceof Upload ? null : `${describe(path)} must be an uploaded file`;
  }
  const typeSpec = spec.type(item);
  if (!typeSpec) return null;
  if (!isPlainObject(value)) return `${describe(path)} must be an Object of type ${item}`;
  if (typeSpec.subtypes) return checkUnion(spec, value, typeSpec, path);
  return checkObject(spec, value, typeSpec, path);
}

function checkObject(spec: BotApiSpec, value: Record<string, unknown>, type: TypeSpec, path: string): string | null {
  const fields = new Map(type.fields.map((f) => [f.name, f]));
  for (const key of Object.keys(value)) {
    if (value[key] !== null && value[key] !== undefined && !fields.has(key)) return `field "${path}.${key}" is not a field of ${type.name}`;
  }
  for (const field of type.fields) {
    const inner = value[field.name];
    if (inner === null || inner === undefined) {
      if (field.required) return `field "${path}.${field.name}" is required in ${type.name}`;
      continue;
    }
    const problem = checkValue(spec, inner, field.types, `${path}.${field.name}`);
    if (problem) return problem;
  }
  return null;
}

function checkUnion(spec: BotApiSpec, value: Record<string, unknown>, union: TypeSpec, path: string): string | null {
  const members = (union.subtypes ?? []).map((s) => spec.type(s)).filter((s): s is TypeSpec => s !== undefined);
  if (DISCRIMINATED_UNIONS.has(union.name)) {
    const tags = new Map(members.map((m) => [discriminator(union.name, m.name), m]));
    const member = typeof value['type'] === 'string' ? tags.get(value['type']) : undefined;
    if (!member) return `field "${path}.type" must be one of ${[...tags.keys()].map((t) => `"${t}"`).join(', ')} for a ${union.name}`;
    return checkObject(spec, value, member, path);
  }
  let best: { problem: string; score: number } | null = null;
  for (const member of members) {
    const problem = checkObject(spec, value, member, path);
    if (problem === null) return null;
    const score = affinity(spec, value, member.name);
    if (!best || score > best.score) best = { problem, score };
  }
  return best?.problem ?? null;
}

/** BotCommandScopeAllPrivateChats → all_private_chats; InlineQueryResultCachedGif → gif. */
function discriminator(union: string, member: string): string {
  const rest = member.slice(union.length).replace(/^Cached/, '');
  return rest.replace(/(?<=[a-z0-9])(?=[A-Z])/g, '_').toLowerCase();
}

