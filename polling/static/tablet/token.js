// Offline verification of credential tokens: the same rules, in the same order, with the same reasons as the
// server (accounts/credentials/signing.py verify_token + check_claims, accounts/credentials/verification.py).
// The token layout is documented in signing.py; this file re-implements it from that docstring.

export const SIGNING_CONTEXT = new TextEncoder().encode("pollguard-credential-v1\u0000");
const HEADER = 26;
const SIGNATURE = 64;
const MAX_LISTED_PLACES = 20;
const SCOPE_HASH_BYTES = 16;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export const KINDS = {1: "poll_watcher", 2: "federal_observer", 3: "state_observer"};
export const KIND_LABELS = {
  poll_watcher: "Poll watcher",
  federal_observer: "Federal observer",
  state_observer: "State observer",
};

export const DETAILS = {
  malformed: "This is not a credential code (damaged, cut short or mistyped).",
  unknown_key: "Signed with a key this tablet does not know (or a retired one).",
  bad_signature: "The signature does not match: forged or altered.",
  unknown_credential: "The token is genuine but no such credential is on record.",
  revoked: "This credential has been revoked.",
  not_yet_valid: "This credential is not valid yet.",
  expired: "This credential has expired.",
  wrong_election: "This credential is for another election.",
  wrong_place: "This credential is not valid at this polling place.",
};

export class TokenError extends Error {
  constructor(reason, detail) {
    super(detail || DETAILS[reason]);
    this.reason = reason;
  }
}

/** RFC 4648 base32 without padding, as Python's base64.b32decode accepts it (whitespace removed, any case). */
export function base32Decode(text) {
  const cleaned = String(text).replace(/\s+/gu, "").toUpperCase();
  // eslint-disable-next-line no-control-regex
  if (!cleaned || cleaned.length > 1024 || !/^[\x00-\x7f]*$/.test(cleaned)) {
    throw new TokenError("malformed", "The token is empty, too long or not base32.");
  }
  const unpadded = cleaned.replace(/=+$/u, "");
  if ([1, 3, 6].includes(unpadded.length % 8) || (cleaned.length !== unpadded.length && cleaned.length % 8)) {
    throw new TokenError("malformed", "The token is not base32 text.");
  }
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of unpadded) {
    const digit = B32.indexOf(c);
    if (digit < 0) throw new TokenError("malformed", "The token is not base32 text.");
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
    value &= (1 << bits) - 1;
  }
  return new Uint8Array(out);
}

function uint(bytes, offset, size) {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + bytes[offset + i];
  return v;
}

function serialFromBytes(raw) {
  let value = 0n;
  for (const b of raw) value = (value << 8n) | BigInt(b);
  if (value >> 50n) throw new TokenError("malformed", "The serial field is out of range.");
  let text = "";
  for (let i = 0; i < 10; i++) {
    text = CROCKFORD[Number(value & 31n)] + text;
    value >>= 5n;
  }
  return text;
}

const minutesToDate = (m) => new Date(m * 60_000);

/** Parse the unsigned part (signing.decode_payload): malformed on any inconsistency. */
export function decodePayload(payload) {
  if (payload.length < HEADER) throw new TokenError("malformed", "The token is too short.");
  const version = payload[0];
  const keyId = uint(payload, 1, 2);
  const flags = payload[10];
  const electionId = uint(payload, 11, 4);
  const start = uint(payload, 15, 4);
  const end = uint(payload, 19, 4);
  const fips = uint(payload, 23, 3);
  if (version !== 1) throw new TokenError("malformed", `Unsupported token version ${version}.`);
  const kindBits = flags & 3;
  const scopeBits = (flags >> 2) & 3;
  if (flags >> 4 || kindBits === 0 || scopeBits === 3) throw new TokenError("malformed", "Unknown kind or scope flags.");
  if (fips > 99999 || start >= end || keyId === 0) throw new TokenError("malformed", "A field is out of range.");
  const body = payload.subarray(HEADER);
  let placeIds = [];
  let scopeHash = "";
  if (scopeBits === 0) {
    if (body.length) throw new TokenError("malformed", "Unexpected bytes after a county-wide scope.");
  } else if (scopeBits === 1) {
    if (!body.length || body[0] < 1 || body[0] > MAX_LISTED_PLACES || body.length !== 1 + 4 * body[0]) {
      throw new TokenError("malformed", "The list of polling places is truncated or too long.");
    }
    for (let i = 1; i < body.length; i += 4) placeIds.push(uint(body, i, 4));
    if (placeIds.some((id, i) => id === 0 || (i > 0 && id <= placeIds[i - 1]))) {
      throw new TokenError("malformed", "The polling places are not listed in ascending order.");
    }
  } else {
    if (body.length !== SCOPE_HASH_BYTES) throw new TokenError("malformed", "The scope hash is truncated.");
    scopeHash = Array.from(body, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return {
    keyId,
    serial: serialFromBytes(payload.subarray(3, 10)),
    kind: KINDS[kindBits],
    electionId,
    validFrom: minutesToDate(start),
    validUntil: minutesToDate(end),
    countyFips: String(fips).padStart(5, "0"),
    scopeType: ["county", "listed", "hashed"][scopeBits],
    placeIds,
    scopeHash,
  };
}

export function readToken(token) {
  const raw = base32Decode(token);
  if (raw.length <= SIGNATURE) throw new TokenError("malformed", "The token is too short.");
  const payload = raw.subarray(0, raw.length - SIGNATURE);
  const signature = raw.subarray(raw.length - SIGNATURE);
  return {payload, signature, claims: decodePayload(payload)};
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** signing.verify_token: the claims of a token signed by one of the keys not retired, or a TokenError. */
export async function verifyToken(token, keys) {
  const {payload, signature, claims} = readToken(token);
  const key = (keys?.keys || []).find((k) => k.key_id === claims.keyId && k.state !== "retired");
  if (!key) throw new TokenError("unknown_key", `Key ${claims.keyId} is unknown or retired.`);
  let ok = false;
  try {
    const publicKey = await crypto.subtle.importKey("raw", fromBase64(key.public_key), {name: "Ed25519"}, false, [
      "verify",
    ]);
    const signed = new Uint8Array(SIGNING_CONTEXT.length + payload.length);
    signed.set(SIGNING_CONTEXT);
    signed.set(payload, SIGNING_CONTEXT.length);
    ok = await crypto.subtle.verify({name: "Ed25519"}, publicKey, signature, signed);
  } catch {
    ok = false;
  }
  if (!ok) throw new TokenError("bad_signature");
  return claims;
}

/** signing.check_claims: why a genuine token may not be admitted here and now, or null. */
export function checkClaims(claims, {at, electionId, placeId, countyFips, coveringHashes = []}) {
  if (at < claims.validFrom) return "not_yet_valid";
  if (at >= claims.validUntil) return "expired";
  if (electionId == null || claims.electionId !== electionId) return "wrong_election";
  if (claims.countyFips !== countyFips) return "wrong_place";
  if (claims.scopeType === "listed" && !claims.placeIds.includes(placeId)) return "wrong_place";
  if (claims.scopeType === "hashed" && !coveringHashes.includes(claims.scopeHash)) return "wrong_place";
  return null;
}

/** The whole offline verdict (verification.credential_verify without the database): signature, then time, election
 * and place, then the revocation list (a token never good here says so first). */
export async function verifyOffline(token, {keys, at, electionId, placeId, countyFips, scopeHashes, revoked}) {
  let claims;
  try {
    claims = await verifyToken(token, keys);
  } catch (error) {
    if (error instanceof TokenError) return {valid: false, reason: error.reason, detail: error.message, claims: null};
    throw error;
  }
  const covering = (scopeHashes || []).filter((h) => h.election === claims.electionId).map((h) => h.scope_hash);
  let reason = checkClaims(claims, {at, electionId, placeId, countyFips, coveringHashes: covering});
  if (!reason) {
    const revocation = (revoked || []).find((r) => r.serial === claims.serial);
    if (revocation && new Date(revocation.revoked_at) <= at) reason = "revoked";
  }
  return {valid: !reason, reason, detail: reason ? DETAILS[reason] : "Valid: admit the holder.", claims};
}
