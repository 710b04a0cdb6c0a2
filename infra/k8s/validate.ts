/**
 * Validates Kubernetes objects against the schemas the npm packages kubernetes-models and
 * @kubernetes-models/keda ship:
 *  1. their ajv validators (`model.validate()`): required fields, types, enums, formats (quantities...);
 *  2. unknown fields, which those validators let through (the OpenAPI schemas do not forbid extra properties,
 *     so `terminationGracePeriodSecond: 40` would pass): every key is checked against the property names of the
 *     package's TypeScript declarations (the .d.ts next to each model), recursively.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A Kubernetes object as parsed from YAML. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

/** The module path of the model class for an apiVersion and kind. */
export function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  if (!/^[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    throw new TypeError(`not a Kubernetes apiVersion/kind: ${apiVersion} ${kind}`);
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** Schema errors of one object (empty when valid), unknown fields included. */
export async function validateObject(obj: KubeObject): Promise<string[]> {
  const where = `${obj.kind}/${obj.metadata?.name ?? '?'}`;
  let spec: string;
  let mod: Record<string, unknown>;
  try {
    spec = modelModule(obj.apiVersion, obj.kind);
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    return [`${where}: no schema for ${obj.apiVersion} ${obj.kind} (${(err as Error).message})`];
  }
  const Model = mod[obj.kind] as ModelClass | undefined;
  if (Model === undefined) return [`${where}: ${spec} exports no ${obj.kind}`];
  const errors: string[] = [];
  try {
    new Model(forSchema(obj)).validate();
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`);
  }
  const declaration = fileURLToPath(import.meta.resolve(spec)).replace(/\.js$/, '.d.ts');
  for (const path of unknownFields(obj, declaration)) errors.push(`${where}: unknown field ${path}`);
  return errors;
}

/**
 * The object as the API server reads it: kustomize wraps long base64 Secret data over lines, which Go's base64
 * decoder (and so the API server) skips but the schema's "byte" format pattern does not.
 */
function forSchema(obj: KubeObject): KubeObject {
  if (obj.kind !== 'Secret' || obj.data === null || typeof obj.data !== 'object') return obj;
  const data = Object.fromEntries(
    Object.entries(obj.data as Record<string, unknown>).map(([k, v]) => [
      k,
      typeof v === 'string' ? v.replace(/[\r\n]/g, '') : v,
    ]),
  );
  return { ...obj, data };
}

type TypeRef = { kind: 'ref'; file: string } | { kind: 'array'; of: TypeRef } | { kind: 'any' };

interface Shape {
  props: Map<string, TypeRef>;
}

const shapes = new Map<string, Shape>();

/** Reads the first interface of a kubernetes-models .d.ts: its property names and where their types live. */
export function readShape(file: string): Shape {
  const cached = shapes.get(file);
  if (cached !== undefined) return cached;
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const [, name, from] = m as unknown as [string, string, string];
    const target = from.startsWith('.')
      ? resolve(dirname(file), from)
      : fileURLToPath(import.meta.resolve(from)).replace(/\.d\.ts$/, '.js');
    imports.set(name, target.replace(/\.js$/, '.d.ts'));
  }
  const start = text.search(/^export interface \w+(?: extends [\w, ]+)? \{$/m);
  if (start === -1) throw new Error(`no interface in ${file}`);
  const body = text.slice(start, text.indexOf('\n}', start));
  const props = new Map<string, TypeRef>();
  for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    props.set(name, typeRef(type.replace(/;$/, '').trim(), imports));
  }
  const shape = { props };
  shapes.set(file, shape);
  return shape;
}

function typeRef(type: string, imports: Map<string, string>): TypeRef {
  const array = /^Array<(\w+)>$/.exec(type);
  if (array !== null) return { kind: 'array', of: typeRef(array[1] as string, imports) };
  const file = imports.get(type);
  if (file !== undefined) return { kind: 'ref', file };
  return { kind: 'any' }; // primitives, literal unions, maps ({ [key: string]: ... }), aliases like IntOrString
}

/** JSON-pointer-like paths of keys the declarations do not know. */
export function unknownFields(value: unknown, declaration: string, path = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  let shape: Shape;
  try {
    shape = readShape(declaration);
  } catch {
    return []; // a type alias (IntOrString, Quantity...): nothing to check inside
  }
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const ref = shape.props.get(key);
    if (ref === undefined) {
      found.push(`${path}/${key}`);
      continue;
    }
    found.push(...checkRef(child, ref, `${path}/${key}`));
  }
  return found;
}

function checkRef(value: unknown, ref: TypeRef, path: string): string[] {
  if (ref.kind === 'any') return [];
  if (ref.kind === 'ref') return unknownFields(value, ref.file, path);
  if (!Array.isArray(value)) return [];
  return value.flatMap((item, i) => checkRef(item, ref.of, `${path}/${i}`));
}
