// D1 values as JSON, both ways (data-access.js and harness.mjs): a BLOB (bytes) is {"$bytes": [...]}; everything
// else D1 takes or gives (null, numbers, text, and the result objects) is JSON already.
const BYTES = "$bytes";

export function encodeValues(value) {
  if (value instanceof ArrayBuffer) return { [BYTES]: [...new Uint8Array(value)] };
  if (ArrayBuffer.isView(value)) return { [BYTES]: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)] };
  if (Array.isArray(value)) return value.map(encodeValues);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeValues(v)]));
  return value;
}

export function decodeValues(value) {
  if (Array.isArray(value)) return value.map(decodeValues);
  if (value && typeof value === "object") {
    if (Array.isArray(value[BYTES]) && Object.keys(value).length === 1) return new Uint8Array(value[BYTES]);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeValues(v)]));
  }
  return value;
}
