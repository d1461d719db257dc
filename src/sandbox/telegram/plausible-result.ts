/**
 * A result of the right shape for a method the double does not simulate: every required field of
 * the return type filled with an empty value of its type. The bot gets something it can parse;
 * the call is listed by `unsimulated()` so nobody mistakes it for behaviour.
 */
import { botApiSpec, unwrapArray } from './bot-api-spec.ts';

export function plausibleResult(returns: readonly string[]): unknown {
  const type = returns.includes('Boolean') ? 'Boolean' : (returns[0] ?? 'Boolean');
  return emptyValue(type, 0);
}

function emptyValue(type: string, depth: number): unknown {
  const { depth: arrays, item } = unwrapArray(type);
  if (arrays > 0) return [];
  switch (item) {
    case 'Boolean':
      return true;
    case 'Integer':
    case 'Float':
      return 0;
    case 'String':
      return '';
  }
  const spec = botApiSpec().type(item);
  if (!spec || depth > 5) return {};
  if (spec.subtypes) {
    const first = spec.subtypes[0];
    return first ? emptyValue(first, depth + 1) : {};
  }
  const out: Record<string, unknown> = {};
  for (const field of spec.fields) {
    if (!field.required) continue;
    out[field.name] = field.types[0] === 'Boolean' ? false : emptyValue(field.types[0] ?? 'String', depth + 1);
  }
  return out;
}
