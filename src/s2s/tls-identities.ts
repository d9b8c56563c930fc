// Each onion's TLS key and self-signed certificate (tls-certificate.ts), made the first time a
// peer wants TLS and kept in the daemon's settings: a peer that pinned it (or logged it) sees the
// same certificate after a restart. Removed with the account (accounts.ts), so nothing left in
// the data dir names an onion the user deleted.
import { createSecureContext, type SecureContext } from "node:tls";
import { selfSignedIdentity, type TlsIdentity } from "./tls-certificate.js";

/** Where identities persist: the store's settings (SettingsRepo). */
export interface TlsIdentityStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

/** The settings key of `onion`'s identity. */
export function tlsIdentityKey(onion: string): string {
  return `s2s.tls.${onion}`;
}

export class TlsIdentities {
  private readonly contexts = new Map<string, SecureContext>();

  constructor(private readonly store: TlsIdentityStore) {}

  /** `onion`'s identity, made and saved on first use. */
  identity(onion: string): TlsIdentity {
    const key = tlsIdentityKey(onion);
    const saved = this.store.get(key);
    if (saved) {
      const parsed = JSON.parse(saved) as Partial<TlsIdentity>;
      if (typeof parsed.keyPem === "string" && typeof parsed.certPem === "string") return { keyPem: parsed.keyPem, certPem: parsed.certPem };
    }
    const made = selfSignedIdentity(onion);
    this.store.set(key, JSON.stringify(made));
    return made;
  }

  /** A TLS context with `onion`'s key and certificate, for either end of a server stream. */
  context(onion: string): SecureContext {
    let ctx = this.contexts.get(onion);
    if (!ctx) {
      const { keyPem, certPem } = this.identity(onion);
      // TLS 1.2 at least (RFC 9325); Node's default ciphers otherwise.
      ctx = createSecureContext({ key: keyPem, cert: certPem, minVersion: "TLSv1.2" });
      this.contexts.set(onion, ctx);
    }
    return ctx;
  }

  /** The account is gone: forget the cached context (the setting goes with the account). */
  forget(onion: string): void {
    this.contexts.delete(onion);
  }
}

/**
 * When server streams use STARTTLS (RFC 6120 section 5). "when-required": offered to every peer,
 * used toward a peer whose <starttls/> says <required/> (a stock Prosody); between purple-onion
 * servers TLS stays off, the onion already encrypts and authenticates. "always": required of
 * peers, and used toward every peer that offers it.
 */
export type S2sTlsPolicy = "when-required" | "always";

export interface S2sTls {
  policy: S2sTlsPolicy;
  identities: TlsIdentities;
}
