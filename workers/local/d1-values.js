// Bound D1 parameters as JSON (harness.mjs writes them, data-access.js reads them): bytes are {"$bytes": [...]}.
// localD1's bind() takes only what D1 binds (null, numbers, text, booleans, bytes), so no plain object, and no
// user value, is ever read as bytes. Results need nothing: D1 gives a BLOB back as an Array of numbers.
const BYTES = "$bytes";

export function encodeParams(params) {
  return params.map((value) => (value instanceof ArrayBuffer ? { [BYTES]: [...new Uint8Array(value)] }
    : ArrayBuffer.isView(value) ? { [BYTES]: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)] }
      : value));
}

export function decodeParams(params) {
  return params.map((value) => (value !== null && typeof value === "object" ? new Uint8Array(value[BYTES]) : value));
}
