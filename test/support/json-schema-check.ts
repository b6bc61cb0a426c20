/**
 * A JSON Schema (draft 2020-12) validator for the subset protocol/event-schema.ts
 * generates, because no validator (ajv or another) is installed. Any keyword
 * outside the subset throws, so the generated schemas cannot grow past what this
 * checks without a test failing. Semantics follow the specification: `type`
 * "integer" is any integral number, string lengths count code points, patterns
 * are unanchored ECMA-262 (`u` flag), `format` and `x-*` are annotations only.
 */
type Schema = boolean | { readonly [keyword: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'format', 'examples', '$defs']);
const KEYWORDS = new Set(['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'anyOf', 'allOf', 'oneOf', 'not', 'if', 'then', 'else', '$ref']);

export class SchemaCheck {
  readonly #byId = new Map<string, Schema>();

  /** `schemas`: every schema `$ref`s may name by `$id` (e.g. all of GET /api/schema). */
  constructor(schemas: Iterable<Schema>) {
    for (const s of schemas) if (typeof s === 'object' && typeof s.$id === 'string') this.#byId.set(s.$id, s);
  }

  /** The ways `value` fails `schema` (each "path: reason"); empty when it is valid. */
  errors(schema: Schema, value: unknown): string[] {
    const errors: string[] = [];
    this.#check(schema, schema, value, '$', errors);
    return errors;
  }

  #check(schema: Schema, root: Schema, value: unknown, path: string, errors: string[]): void {
    if (schema === true) return;
    if (schema === false) return void errors.push(`${path}: no value is allowed here`);
    const s = schema as Record<string, unknown>;
    // A schema with an `$id` is the root its local `$ref`s resolve against.
    if (typeof s.$id === 'string') root = schema;
    for (const keyword of Object.keys(s)) {
      if (ANNOTATIONS.has(keyword) || keyword.startsWith('x-')) continue;
      if (!KEYWORDS.has(keyword)) throw new Error(`keyword ${keyword} (at ${path}) is outside the subset this checker knows`);
    }
    const fail = (reason: string) => errors.push(`${path}: ${reason}`);
    if (s.$ref !== undefined) this.#check(this.#resolve(s.$ref as string, root), root, value, path, errors);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeMatches(t, value))) fail(`expected ${types.join(' or ')}, got ${typeName(value)}`);
    }
    if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => same(e, value))) fail(`expected one of ${JSON.stringify(s.enum)}, got ${JSON.stringify(value)}`);
    if (s.const !== undefined && !same(s.const, value)) fail(`expected ${JSON.stringify(s.const)}, got ${JSON.stringify(value)}`);
    if (typeof value === 'string') {
      const length = [...value].length;
      if (s.minLength !== undefined && length < (s.minLength as number)) fail(`shorter than ${s.minLength as number}`);
      if (s.maxLength !== undefined && length > (s.maxLength as number)) fail(`longer than ${s.maxLength as number}`);
      if (s.pattern !== undefined && !new RegExp(s.pattern as string, 'u').test(value)) fail(`does not match ${s.pattern as string}`);
    }
    if (typeof value === 'number') {
      if (s.minimum !== undefined && value < (s.minimum as number)) fail(`less than ${s.minimum as number}`);
      if (s.maximum !== undefined && value > (s.maximum as number)) fail(`more than ${s.maximum as number}`);
    }
    if (isObject(value)) {
      const properties = (s.properties ?? {}) as Record<string, Schema>;
      for (const key of (s.required ?? []) as string[]) if (!Object.hasOwn(value, key)) fail(`missing ${key}`);
      for (const [key, v] of Object.entries(value)) {
        if (Object.hasOwn(properties, key)) this.#check(properties[key]!, root, v, `${path}.${key}`, errors);
        else if (s.additionalProperties !== undefined) this.#check(s.additionalProperties as Schema, root, v, `${path}.${key}`, errors);
      }
    }
    if (Array.isArray(value) && s.items !== undefined) value.forEach((v, i) => this.#check(s.items as Schema, root, v, `${path}[${i}]`, errors));
    const passes = (sub: Schema) => this.#errorsAt(sub, root, value, path).length === 0;
    if (s.allOf !== undefined) for (const sub of s.allOf as Schema[]) this.#check(sub, root, value, path, errors);
    if (s.anyOf !== undefined && !(s.anyOf as Schema[]).some(passes)) fail(`matches none of anyOf: ${(s.anyOf as Schema[]).map((sub) => this.#errorsAt(sub, root, value, path).join('; ')).join(' | ')}`);
    if (s.oneOf !== undefined && (s.oneOf as Schema[]).filter(passes).length !== 1) fail('does not match exactly one of oneOf');
    if (s.not !== undefined && passes(s.not as Schema)) fail(`must not match ${JSON.stringify(s.not)}`);
    if (s.if !== undefined) {
      const branch = passes(s.if as Schema) ? s.then : s.else;
      if (branch !== undefined) this.#check(branch as Schema, root, value, path, errors);
    }
  }

  #errorsAt(schema: Schema, root: Schema, value: unknown, path: string): string[] {
    const errors: string[] = [];
    this.#check(schema, root, value, path, errors);
    return errors;
  }

  #resolve(ref: string, root: Schema): Schema {
    if (ref.startsWith('#/$defs/')) {
      const found = (root as { $defs?: Record<string, Schema> }).$defs?.[ref.slice(8)];
      if (found === undefined) throw new Error(`$ref ${ref} does not resolve in ${String((root as { $id?: unknown }).$id)}`);
      return found;
    }
    const found = this.#byId.get(ref);
    if (found === undefined) throw new Error(`$ref ${ref} names no known $id`);
    return found;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'string':
      return typeof v === 'string';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isObject(v);
    default:
      throw new Error(`unknown type ${type}`);
  }
}

/** JSON equality (enum, const): the values here are JSON data. */
function same(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && JSON.stringify(a) === JSON.stringify(b));
}
