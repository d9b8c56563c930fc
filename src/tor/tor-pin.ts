// What the daemon knows about "its" tor, pinned at the first successful
// connection (attach mode) or fixed by configuration (launch mode): where the
// control port is, how we authenticate, which cookie file, and which local
// user tor runs as. Onion private keys go only to a tor that matches it.
import type { AuthMethod } from "./control-auth.js";

export interface TorPin {
  /** The control endpoint, "127.0.0.1:9051" or "unix:/run/tor/control". */
  control: string;
  auth: AuthMethod;
  /** SAFECOOKIE: the cookie file (never a path a peer named after pinning). */
  cookieFile?: string;
  /** The uid tor runs as: owner of its listening sockets and of its cookie file. */
  uid: number;
  /** When it was pinned (UTC ISO), for `status`. */
  pinnedAt: string;
}

export const TOR_PIN_SETTING = "tor.pin";

/** Where a pin is kept (the daemon's settings table). */
export interface PinStore {
  load(): TorPin | undefined;
  save(pin: TorPin): void;
  clear(): void;
}

/** A pin as stored, or undefined for anything that is not one (a damaged value is not trusted). */
export function parsePin(text: string | undefined): TorPin | undefined {
  if (!text) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const p = v as Partial<TorPin>;
  if (typeof p !== "object" || p === null) return undefined;
  if (typeof p.control !== "string" || typeof p.uid !== "number" || !Number.isInteger(p.uid) || typeof p.pinnedAt !== "string") return undefined;
  if (p.auth !== "SAFECOOKIE" && p.auth !== "HASHEDPASSWORD" && p.auth !== "NULL") return undefined;
  if (p.auth === "SAFECOOKIE" && typeof p.cookieFile !== "string") return undefined;
  const pin: TorPin = { control: p.control, auth: p.auth, uid: p.uid, pinnedAt: p.pinnedAt };
  if (p.cookieFile !== undefined) pin.cookieFile = p.cookieFile;
  return pin;
}

/** A PinStore over a key/value settings store. */
export function settingsPinStore(settings: { get(k: string): string | undefined; set(k: string, v: string): void; delete(k: string): boolean }): PinStore {
  return {
    load: () => parsePin(settings.get(TOR_PIN_SETTING)),
    save: (pin) => settings.set(TOR_PIN_SETTING, JSON.stringify(pin)),
    clear: () => void settings.delete(TOR_PIN_SETTING),
  };
}

/** A PinStore that only remembers in memory (launch mode: everything is fixed by our own torrc). */
export function memoryPinStore(initial?: TorPin): PinStore {
  let pin = initial;
  return {
    load: () => pin,
    save: (p) => (pin = p),
    clear: () => (pin = undefined),
  };
}
