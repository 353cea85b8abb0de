/**
 * The appc name types (AC Identifier, AC Name, Image ID, environment variable names), the image reference users
 * type (`example.com/app:1.0,os=linux`), and the small reader kit the schema validators in this folder share: a
 * `Field` knows where in a document a value sits, so every error names its path (`app.mountPoints[1].path`).
 */
import { RktError, type ErrorCode } from '../common/errors.js';

const AC_IDENTIFIER = /^[a-z0-9]+(?:[-._~/][a-z0-9]+)*$/;
const AC_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IMAGE_ID = /^sha512-[0-9a-f]{128}$/;
/** `sha512-` and at least 12 hex digits: what `rkt image list` prints, up to the full ID. */
const IMAGE_ID_PREFIX = /^sha512-[0-9a-f]{12,128}$/;

/** The shortest hex prefix of an Image ID that names an image. */
export const MIN_IMAGE_ID_PREFIX_HEX = 12;

/** True if `s` is an AC Identifier: lowercase alphanumeric runs joined by single `-._~/` (so it may contain `/`). */
export function isAcIdentifier(s: string): boolean {
  return AC_IDENTIFIER.test(s);
}

/** True if `s` is an AC Name: lowercase alphanumeric runs joined by single `-` (no `/`, `.`, `_` or `~`). */
export function isAcName(s: string): boolean {
  return AC_NAME.test(s);
}

/** True if `s` is a full Image ID: `sha512-` and 128 lowercase hex digits. */
export function isImageId(s: string): boolean {
  return IMAGE_ID.test(s);
}

/** True if `s` can name an environment variable (POSIX: letters, digits, `_`, not starting with a digit). */
export function isEnvironmentName(s: string): boolean {
  return ENVIRONMENT_NAME.test(s);
}

/** An image ID as a user typed it: the full ID, or a prefix of one that the store resolves. */
export interface ImageIdRef {
  readonly kind: 'full' | 'prefix';
  /** Lowercase, with the `sha512-` prefix. */
  readonly value: string;
}

/**
 * Normalise an image ID a user typed: `sha512-` and 128 hex digits is `full`; `sha512-` and 12 to 127 hex digits
 * (including the 64-digit form rkt prints) is a `prefix`. Hex case is folded. Throws ENAME otherwise.
 */
export function normalizeImageId(s: string): ImageIdRef {
  const value = s.toLowerCase();
  if (!IMAGE_ID_PREFIX.test(value)) {
    throw new RktError(
      'ENAME',
      `invalid image ID "${s}": expected "sha512-" followed by ${MIN_IMAGE_ID_PREFIX_HEX} to 128 hex digits`,
    );
  }
  return { kind: IMAGE_ID.test(value) ? 'full' : 'prefix', value };
}

/** An image as users name it on the command line: a name and the labels it must carry. */
export interface ImageReference {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
}

/**
 * Parse an image reference as users type it: `example.com/app`, `example.com/app:1.0` (the version label),
 * `example.com/app,version=1.0,os=linux`, or both forms together. Label names are AC Identifiers, each given
 * once, with a non-empty value; `name` is not a label. Throws ENAME naming the bad part.
 */
export function parseImageReference(ref: string): ImageReference {
  const bad = (why: string) => new RktError('ENAME', `invalid image reference "${ref}": ${why}`);
  const [head = '', ...rest] = ref.split(',');
  const colon = head.indexOf(':');
  const name = colon === -1 ? head : head.slice(0, colon);
  if (!isAcIdentifier(name)) {
    throw bad(`image name "${name}" is not a valid AC Identifier (lowercase letters and digits joined by -._~/)`);
  }
  const labels = new Map<string, string>();
  const add = (label: string, value: string) => {
    if (!isAcIdentifier(label)) throw bad(`label name "${label}" is not a valid AC Identifier`);
    if (label === 'name') throw bad('"name" is the image name, not a label');
    if (labels.has(label)) throw bad(`duplicate label "${label}"`);
    if (value === '') throw bad(`label "${label}" has an empty value`);
    labels.set(label, value);
  };
  if (colon !== -1) {
    const version = head.slice(colon + 1);
    if (version.includes(':')) throw bad(`version "${version}" contains ":"`);
    add('version', version);
  }
  for (const part of rest) {
    if (part.includes(':')) throw bad(`":" may only separate the name from its version, found in "${part}"`);
    const eq = part.indexOf('=');
    if (eq === -1) throw bad(`label "${part}" is not of the form name=value`);
    add(part.slice(0, eq), part.slice(eq + 1));
  }
  return { name, labels };
}

// ---------------------------------------------------------------------------------------------------------------
// The reader kit: untrusted JSON in, typed values out, with errors that name the field.

/** Reads one untrusted value found at `at` into a `T`, or throws through `at.fail`. */
export type Reader<T> = (value: unknown, at: Field) => T;

/** A JSON value, as kept for isolators this version does not know. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * Where a value sits in a document being validated. Errors read `invalid <document>: <path>: <why>`, or
 * `invalid <document>: <why>` at the root, with the document's error code.
 */
export class Field {
  // The path is made only when an error needs it: a valid document (every pod `rkt list` reads) makes none.
  private constructor(
    readonly code: ErrorCode,
    readonly document: string,
    private readonly parent: Field | undefined,
    private readonly segment: string | number,
  ) {}

  /** The root of a document: `Field.root('EMANIFEST', 'image manifest')`. */
  static root(code: ErrorCode, document: string): Field {
    return new Field(code, document, undefined, '');
  }

  /** The member `name` of the object at this field. */
  key(name: string): Field {
    return new Field(this.code, this.document, this, name);
  }

  /** The element `index` of the array at this field. */
  index(index: number): Field {
    return new Field(this.code, this.document, this, index);
  }

  /** Where this field is in its document: `apps[0].image.id` ('' for the root). */
  get path(): string {
    if (this.parent === undefined) return '';
    const above = this.parent.path;
    if (typeof this.segment === 'number') return `${above}[${this.segment}]`;
    return above === '' ? this.segment : `${above}.${this.segment}`;
  }

  /** The error for this field, without throwing it. */
  error(why: string): RktError {
    return new RktError(this.code, `invalid ${this.document}: ${this.path === '' ? '' : `${this.path}: `}${why}`);
  }

  /** Throw the error for this field. */
  fail(why: string): never {
    throw this.error(why);
  }
}

/** A short, quoted rendering of an untrusted value for error messages: `"bin/sh"`, `42`, `an object`. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  return `a ${typeof value}`;
}

/** Reads a JSON object: its members are reached by key, absent and `null` members alike count as missing. */
export class ObjectReader {
  private constructor(
    private readonly members: Readonly<Record<string, unknown>>,
    readonly at: Field,
  ) {}

  /** Narrow `value` to an object (not an array, not null), or fail at `at`. */
  static of(value: unknown, at: Field): ObjectReader {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return at.fail(`expected an object, got ${show(value)}`);
    }
    return new ObjectReader(value as Readonly<Record<string, unknown>>, at);
  }

  /** The members in document order, `null` values included. */
  entries(): [string, unknown][] {
    return Object.entries(this.members);
  }

  /** True if member `key` is present, even as `null`. */
  has(key: string): boolean {
    return Object.hasOwn(this.members, key);
  }

  /** The raw member `key`, or undefined when absent or `null` (Go encoders write `null` for empty lists). */
  raw(key: string): unknown {
    if (!Object.hasOwn(this.members, key)) return undefined;
    const value = this.members[key];
    return value === null ? undefined : value;
  }

  /** Member `key` read by `read`; fails when it is missing. */
  required<T>(key: string, read: Reader<T>): T {
    const value = this.raw(key);
    if (value === undefined) this.at.key(key).fail('required field is missing');
    return read(value, this.at.key(key));
  }

  /** Member `key` read by `read`, or undefined when missing. */
  optional<T>(key: string, read: Reader<T>): T | undefined {
    const value = this.raw(key);
    return value === undefined ? undefined : read(value, this.at.key(key));
  }

  /** Member `key` read by the list reader `read`; a missing list is empty. */
  list<T>(key: string, read: Reader<readonly T[]>): readonly T[] {
    return this.optional(key, read) ?? [];
  }
}

/** A reader for a JSON array whose elements are read by `read`. */
export function readList<T>(read: Reader<T>): Reader<readonly T[]> {
  return (value, at) =>
    Array.isArray(value)
      ? value.map((element: unknown, i) => read(element, at.index(i)))
      : at.fail(`expected an array, got ${show(value)}`);
}

/** Reads a string. */
export const readString: Reader<string> = (value, at) =>
  typeof value === 'string' ? value : at.fail(`expected a string, got ${show(value)}`);

/** Reads a non-empty string. */
export const readNonEmptyString: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return s !== '' ? s : at.fail('"" is empty');
};

/** Reads a boolean. */
export const readBoolean: Reader<boolean> = (value, at) =>
  typeof value === 'boolean' ? value : at.fail(`expected a boolean, got ${show(value)}`);

/** A reader for an integer in `[min, max]` (no upper bound when `max` is omitted). */
export function readInteger(min: number, max?: number): Reader<number> {
  return (value, at) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      return at.fail(`expected an integer, got ${show(value)}`);
    }
    if (max === undefined && value < min) return at.fail(`${value} is less than ${min}`);
    if (max !== undefined && (value < min || value > max)) return at.fail(`${value} is not between ${min} and ${max}`);
    return value;
  };
}

/** Reads an absolute path. */
export const readAbsolutePath: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return s.startsWith('/') ? s : at.fail(`${show(s)} is not an absolute path`);
};

/** Reads an AC Identifier. */
export const readAcIdentifier: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return isAcIdentifier(s) ? s : at.fail(`${show(s)} is not a valid AC Identifier`);
};

/** Reads an AC Name. */
export const readAcName: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return isAcName(s) ? s : at.fail(`${show(s)} is not a valid AC Name`);
};

/** Reads a full Image ID (`sha512-` and 128 lowercase hex digits). */
export const readImageId: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return isImageId(s) ? s : at.fail(`${show(s)} is not a valid image ID (sha512- and 128 hex digits)`);
};

/** A reader for one of the strings in `allowed`. */
export function readOneOf<T extends string>(allowed: readonly T[]): Reader<T> {
  const isAllowed = (s: string): s is T => (allowed as readonly string[]).includes(s);
  return (value, at) => {
    const s = readString(value, at);
    return isAllowed(s) ? s : at.fail(`${show(s)} is not one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  };
}

/** Reads any JSON value into a fresh, plain copy (no functions, no non-finite numbers, no `undefined`). */
export const readJson: Reader<JsonValue> = (value, at) => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value : at.fail(`${String(value)} is not a JSON number`);
  }
  if (Array.isArray(value)) return readList(readJson)(value, at);
  if (typeof value === 'object') {
    // fromEntries defines own properties, so a "__proto__" member stays data.
    return Object.fromEntries(
      Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, readJson(v, at.key(k))]),
    );
  }
  return at.fail(`${show(value)} is not a JSON value`);
};

/** Reads a JSON object of string values (appc's userAnnotations and userLabels). */
export const readStringMap: Reader<Readonly<Record<string, string>>> = (value, at) => {
  const entries = ObjectReader.of(value, at).entries();
  return Object.fromEntries(entries.map(([k, v]) => [k, readString(v, at.key(k))]));
};

/**
 * A reader for a list of things with unique names, each read by `read`; a repeated name fails at its `[i].name`,
 * with `what` naming the thing: `duplicate mount point "work"`.
 */
export function readNamedList<T extends { readonly name: string }>(read: Reader<T>, what: string): Reader<readonly T[]> {
  return (value, at) => {
    const items = readList(read)(value, at);
    const seen = new Set<string>();
    items.forEach((item, i) => {
      if (seen.has(item.name)) at.index(i).key('name').fail(`duplicate ${what} ${show(item.name)}`);
      seen.add(item.name);
    });
    return items;
  };
}

/** `o` without its undefined members: an optional field left out is absent, not present as `undefined`. */
export function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
