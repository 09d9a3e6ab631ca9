// The operator's API key lives in sessionStorage only: gone when the tab closes, never in
// localStorage, never in a URL, a cookie or a log. (In the cloud, IAP and the operator's Google
// identity replace it: docs/console.md.)
const KEY = "ledgerline.console.apiKey";

/** ll_<test|live>_<16 hex>_<43-char secret> (shared/api/keys.py). */
export const API_KEY_PATTERN = /^ll_(test|live)_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

export interface KeyStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function storage(): KeyStore {
  return window.sessionStorage;
}

export function getApiKey(store: KeyStore = storage()): string | null {
  return store.getItem(KEY);
}

export function setApiKey(key: string, store: KeyStore = storage()): void {
  store.setItem(KEY, key);
}

export function clearApiKey(store: KeyStore = storage()): void {
  store.removeItem(KEY);
}
