// A scripted XMPP client for tests: plain TCP to a given address, SASL
// SCRAM-SHA-1 or PLAIN, resource binding, and nothing else.
//
// It is assembled from parts of @xmpp/client rather than calling its
// `client()` factory on purpose: the factory adds automatic reconnection,
// STARTTLS, SASL2/FAST, stream management and an IQ responder that answers
// every unknown get/set with service-unavailable. A test client must send
// exactly what the test says and nothing else, so none of those are here:
// it never answers anything by itself (not even roster pushes), except
// XEP-0199 pings when asked to (answerPings), as libpurple does.
import { pbkdf2Sync } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import { Client } from "@xmpp/client-core";
import tcp from "@xmpp/tcp";
import middlewareFactory from "@xmpp/middleware";
import streamFeaturesFactory from "@xmpp/stream-features";
import iqCallerFactory from "@xmpp/iq/caller.js";
import saslFactoryPlugin from "@xmpp/sasl";
import resourceBinding from "@xmpp/resource-binding";
import saslPlain from "@xmpp/sasl-plain";
import saslScramSha1 from "@xmpp/sasl-scram-sha-1";
import SaslFactory from "saslmechanisms";
import scramBitops from "sasl-scram-sha-1/lib/bitops.js";
import { Element, escapeXML } from "../../src/xmpp/xml.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { parseXmlFragment } from "./xml-fragment.js";

export type SaslMechanism = "SCRAM-SHA-1" | "PLAIN";

export interface ConnectOptions {
  /** Address to connect to; never resolved through DNS. */
  host: string;
  port: number;
  /** The XMPP domain (stream `to`); need not resolve, e.g. an .onion name. */
  domain: string;
  username: string;
  password: string;
  /** Resource to request; the server may assign another one. */
  resource?: string;
  /** Mechanisms to try, first offered wins. Default: SCRAM-SHA-1, then PLAIN (purple-onion offers no PLAIN; Prosody does). */
  mechanisms?: SaslMechanism[];
  /** How long connecting, authenticating and binding may take. Default 10 s. */
  timeoutMs?: number;
  /** Answer XEP-0199 pings at once, as libpurple does; they never reach the test. Default false. */
  answerPings?: boolean;
}

export interface TestClient {
  /** The full JID the server bound. */
  readonly jid: string;
  readonly bareJid: string;
  /** Every stanza received since connecting, in order; never consumed. */
  readonly stanzas: readonly Element[];
  /** Stream, socket and parser errors seen since connecting. */
  readonly errors: readonly Error[];
  /** True until the stream or the socket closes. */
  readonly online: boolean;
  /** Send an element, or raw XML text (written as given). */
  send(stanza: Element | string): Promise<void>;
  /**
   * Send an IQ get/set (an `id` is added if missing) and resolve with the
   * reply of the same id, whether type="result" or type="error".
   */
  iq(request: Element | string, timeoutMs?: number): Promise<Element>;
  /**
   * Resolve with the oldest not yet consumed stanza that matches, consuming
   * it; stanzas that do not match stay queued. Rejects after timeoutMs.
   */
  next(predicate: (stanza: Element) => boolean, timeoutMs?: number): Promise<Element>;
  /** Stanzas received and not consumed by next()/take(), oldest first. */
  pending(): readonly Element[];
  /** Remove and return the oldest unconsumed stanza, waiting up to timeoutMs. */
  take(timeoutMs?: number): Promise<Element | undefined>;
  /** Close the stream and the socket (idempotent). */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5000;
const CLOSE_TIMEOUT_MS = 2000;

// sasl-scram-sha-1 computes Hi() (RFC 5802 section 2.2) with one awaited
// WebCrypto HMAC per iteration: ~2 s per login at Prosody's 10000 iterations.
// Hi is PBKDF2-HMAC-SHA-1 with a 20-byte output, which node computes natively
// in milliseconds; same result, so every test login stays fast.
scramBitops.Hi = async (text, salt, iterations) => new Uint8Array(pbkdf2Sync(text, salt, iterations, 20, "sha1"));
let idCounter = 0;

/** Connect, authenticate and bind; resolves once the session is online. */
export async function connectClient(options: ConnectOptions): Promise<TestClient> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const entity = new Client({
    service: `xmpp://${options.host}:${options.port}`,
    domain: options.domain,
    timeout: timeoutMs,
  });
  installUtf8SafeDecoding(entity);
  tcp({ entity });
  const middleware = middlewareFactory({ entity });
  const streamFeatures = streamFeaturesFactory({ middleware });
  const iqCaller = iqCallerFactory({ entity, middleware });
  const saslFactory = new SaslFactory();
  saslScramSha1(saslFactory);
  saslPlain(saslFactory);
  const wanted = options.mechanisms ?? ["SCRAM-SHA-1", "PLAIN"];
  saslFactoryPlugin({ streamFeatures, saslFactory }, async (authenticate, offered) => {
    const mechanism = wanted.find((m) => offered.includes(m));
    if (!mechanism) {
      throw new Error(
        `no usable SASL mechanism: server offers ${offered.join(", ") || "none we know"}, ` +
          `test wants ${wanted.join(" or ")}`,
      );
    }
    await authenticate({ username: options.username, password: options.password }, mechanism);
  });
  resourceBinding({ iqCaller, streamFeatures }, options.resource);

  const client = new ScriptedClient(entity, options.answerPings ?? false);
  try {
    await withTimeout(entity.start(), timeoutMs, () =>
      `connecting ${options.username}@${options.domain} via ${options.host}:${options.port}`,
    );
    // From now on the timeout only bounds waiting for the server's
    // </stream:stream> when closing; a test should not hang on it.
    entity.timeout = CLOSE_TIMEOUT_MS;
  } catch (err) {
    await client.close();
    const reason = err instanceof Error ? err.message : String(err);
    const seen = client.errors.map((e) => e.message).join("; ");
    throw new Error(`login of ${options.username}@${options.domain} failed: ${reason}${seen ? ` (${seen})` : ""}`);
  }
  return client;
}

class ScriptedClient implements TestClient {
  readonly stanzas: Element[] = [];
  readonly errors: Error[] = [];
  #queue: Element[] = [];
  #waiters = new Set<() => void>();
  #closed = false;

  constructor(
    private readonly entity: Client,
    answerPings: boolean,
  ) {
    // Without an 'error' listener an EventEmitter throws; record instead.
    entity.on("error", (err: unknown) => {
      this.errors.push(err instanceof Error ? err : new Error(String(err)));
      this.#wake();
    });
    entity.on("stanza", (stanza: Element) => {
      // The reply to resource binding belongs to the login, not to the test.
      if (stanza.name === "iq" && stanza.getChild("bind", NS.BIND)) return;
      // https://xmpp.org/extensions/xep-0199.html#s2c
      if (answerPings && stanza.name === "iq" && stanza.attrs.type === "get" && stanza.getChild("ping", NS.PING)) {
        const pong = `<iq type='result' id='${escapeXML(stanza.attrs.id ?? "")}'${stanza.attrs.from ? ` to='${escapeXML(stanza.attrs.from)}'` : ""}/>`;
        this.entity.write(pong).catch((err: unknown) => this.errors.push(err instanceof Error ? err : new Error(String(err))));
        return;
      }
      this.stanzas.push(stanza);
      this.#queue.push(stanza);
      this.#wake();
    });
    const markClosed = () => {
      this.#closed = true;
      this.#wake();
    };
    entity.on("close", markClosed);
    entity.on("disconnect", markClosed);
    entity.on("offline", markClosed);
  }

  get jid(): string {
    return this.entity.jid?.toString() ?? "";
  }

  get bareJid(): string {
    return this.entity.jid?.bare().toString() ?? "";
  }

  get online(): boolean {
    return !this.#closed && this.entity.status === "online";
  }

  async send(stanza: Element | string): Promise<void> {
    if (typeof stanza === "string") {
      await this.entity.write(stanza);
    } else {
      await this.entity.send(stanza);
    }
  }

  async iq(request: Element | string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Element> {
    const [el] = typeof request === "string" ? parseXmlFragment(request) : [request];
    if (!el || el.name !== "iq") throw new Error("iq() needs an <iq/> element");
    if (!el.attrs.id) el.attrs.id = `tc-${++idCounter}`;
    const id = el.attrs.id;
    const reply = this.next(
      (s) => s.name === "iq" && s.attrs.id === id && (s.attrs.type === "result" || s.attrs.type === "error"),
      timeoutMs,
    );
    await this.send(el);
    return reply;
  }

  pending(): readonly Element[] {
    return this.#queue;
  }

  next(predicate: (stanza: Element) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Element> {
    return this.#waitFor(() => {
      const index = this.#queue.findIndex(predicate);
      return index < 0 ? undefined : this.#queue.splice(index, 1)[0];
    }, timeoutMs).then((found) => {
      if (found) return found;
      throw new Error(this.#closed ? "the stream closed before a matching stanza arrived" : `no matching stanza within ${timeoutMs} ms`);
    });
  }

  take(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Element | undefined> {
    return this.#waitFor(() => this.#queue.shift(), timeoutMs);
  }

  async close(): Promise<void> {
    if (this.entity.status === "offline") return;
    try {
      await this.entity.stop();
    } catch {
      // Closing a stream the server already closed fails; it is closed either way.
    }
    this.#closed = true;
    this.#wake();
  }

  // Poll `pick` now and on every event until it yields, the stream closes
  // (then resolve undefined) or the time runs out.
  #waitFor<T>(pick: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const first = pick();
      if (first !== undefined || this.#closed) return resolve(first);
      const check = () => {
        const found = pick();
        if (found === undefined && !this.#closed) return;
        done(found);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (value: T | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      this.#waiters.add(check);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

// xmpp.js decodes each TCP chunk on its own, which corrupts a multi-byte
// UTF-8 character split across two chunks; decode the byte stream instead.
function installUtf8SafeDecoding(entity: Client): void {
  let decoder = new StringDecoder("utf8");
  entity.on("connect", () => {
    decoder = new StringDecoder("utf8");
  });
  entity._onData = function onData(this: Client, data: Buffer) {
    this.parser?.write(decoder.write(data));
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what()} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
