// Umbra analytics tracker: seals one page view in the browser to the site contract's X25519 key
// and posts the sealed view to the site's collector, which can only batch it on to the chain.
//
// Envelope (byte for byte the one of crates/contracts/src/analytics.rs `seal_view`, i.e. the
// CLI's sealed box with the view's associated data):
//   ephemeral X25519 key e;  shared = X25519(e, contract key)  (low-order keys refused)
//   key   = HKDF-SHA256(ikm = shared, salt = e_pub ‖ contract_pub, info = "umbra-sealed-box-v1")
//   nonce = 12 random bytes
//   ciphertext = ChaCha20-Poly1305(key, nonce, aad = "umbra/analytics-view/v1" ‖ contract id,
//                                  plaintext = SCALE(PageView))
//   PageView = visitor [16 bytes] ‖ time_ms u64 LE ‖ compact(len) ‖ path ‖ compact(len) ‖ referrer
//
// Use: <script src="COLLECTOR/umbra-tracker.js" data-collector="COLLECTOR" data-site="0x<id>"
//      data-key="0x<contract public key>" async></script>
// The visitor id is 16 random bytes kept in localStorage (no cookie, no fingerprinting); it
// leaves the browser only sealed, and the contract hashes it with a per-site secret.
// `window.umbraAnalytics.track(path)` records a view of a single-page app's route.
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

const SEALED_BOX_INFO = 'umbra-sealed-box-v1';
const VIEW_AAD = 'umbra/analytics-view/v1';
const MAX_PATH = 200;
const STORAGE_KEY = 'umbra.analytics.visitor';

const utf8 = (s) => new TextEncoder().encode(s);

function random(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function hex(bytes) {
  return '0x' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromHex(s, len, what) {
  const h = s.startsWith('0x') ? s.slice(2) : s;
  if (!/^[0-9a-fA-F]*$/.test(h) || h.length !== len * 2) {
    throw new Error(`umbra analytics: ${what} must be ${len} bytes of hex`);
  }
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// SCALE compact length prefix (lengths here are far below 2^30).
function compact(n) {
  if (n < 64) return Uint8Array.of(n << 2);
  if (n < 16384) return Uint8Array.of(((n << 2) | 1) & 0xff, n >> 6);
  return Uint8Array.of(((n << 2) | 2) & 0xff, (n >> 6) & 0xff, (n >> 14) & 0xff, (n >> 22) & 0xff);
}

function scaleString(s) {
  const b = utf8(s);
  return concat(compact(b.length), b);
}

function u64le(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

// Cuts a string to at most `max` bytes of UTF-8 without splitting a character.
function cut(s, max) {
  while (utf8(s).length > max) s = s.slice(0, -1);
  return s;
}

/** SCALE(PageView). */
export function encodeView(visitor, timeMs, path, referrer) {
  return concat(visitor, u64le(timeMs), scaleString(path), scaleString(referrer));
}

/** Seals a page view to the contract key; returns the JSON body the collector accepts. */
export function sealView(contractId, contractKey, plaintext) {
  const eph = x25519.utils.randomSecretKey();
  const ephPub = x25519.getPublicKey(eph);
  const shared = x25519.getSharedSecret(eph, contractKey);
  const key = hkdf(sha256, shared, concat(ephPub, contractKey), utf8(SEALED_BOX_INFO), 32);
  const nonce = random(12);
  const aad = concat(utf8(VIEW_AAD), contractId);
  const ciphertext = chacha20poly1305(key, nonce, aad).encrypt(plaintext);
  return { ephemeral: hex(ephPub), nonce: hex(nonce), ciphertext: hex(ciphertext) };
}

function visitorId() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored && /^[0-9a-f]{32}$/.test(stored)) return fromHex(stored, 16, 'visitor id');
    const fresh = random(16);
    localStorage.setItem(STORAGE_KEY, hex(fresh).slice(2));
    return fresh;
  } catch (_) {
    // No storage (blocked): a random id per page load.
    return random(16);
  }
}

function foreignReferrer() {
  try {
    if (!document.referrer) return '';
    const r = new URL(document.referrer);
    return r.origin === location.origin ? '' : r.host;
  } catch (_) {
    return '';
  }
}

function setStatus(s) {
  document.documentElement.setAttribute('data-umbra-analytics', s);
}

(function main() {
  if (typeof document === 'undefined') return; // imported outside a page (test vectors)
  const script = document.currentScript;
  if (!script) return;
  const collector = (script.dataset.collector || new URL(script.src).origin).replace(/\/$/, '');
  let site, key;
  try {
    site = fromHex(script.dataset.site || '', 32, 'data-site');
    key = fromHex(script.dataset.key || '', 32, 'data-key');
  } catch (e) {
    setStatus('error: ' + e.message);
    return;
  }
  let sent = 0;
  async function track(path) {
    const view = encodeView(
      visitorId(),
      Date.now(),
      cut(path || location.pathname || '/', MAX_PATH),
      cut(foreignReferrer(), 255),
    );
    const body = JSON.stringify(sealView(site, key, view));
    const res = await fetch(collector + '/v1/views', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
      keepalive: true,
      credentials: 'omit',
    });
    if (!res.ok) throw new Error('collector answered ' + res.status);
    sent += 1;
    setStatus('sent ' + sent);
  }
  window.umbraAnalytics = {
    track: (path) =>
      track(path).catch((e) => {
        setStatus('error: ' + e.message);
        throw e;
      }),
  };
  window.umbraAnalytics.track().catch(() => {});
})();
