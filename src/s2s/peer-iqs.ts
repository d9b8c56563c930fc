// iqs we sent to other servers and wait for (RFC 6120 8.2.3: a get or set gets exactly one
// result or error, with the same id, from the entity it was sent to). Over dialback the answer
// comes back on ANOTHER stream (the peer's own, inbound to us), so the wait is kept here, per
// pair, not on a stream. Two kinds: a user's iq (the answer is routed to the user as any stanza;
// no answer in iqTimeoutMs bounces an error with the reason) and our own XEP-0199 pings (receipt
// for the outbox, keepalive), which are answered here and never reach the router.
import { randomBytes } from "node:crypto";
import { duration } from "./dialback-wire.js";
import { parseJid } from "../xmpp/jid.js";
import { NS } from "../xmpp/namespaces.js";
import { xml, type Element } from "../xmpp/xml.js";

interface Waiting {
  local: string;
  remote: string;
  /** Normalized JID the iq went to: only it answers. */
  to: string;
  timer: NodeJS.Timeout;
  /** Our own ping: true when answered, false on timeout or when failed. */
  ping?: (ok: boolean) => void;
  /** A user's iq: bounce it with this condition and text. */
  bounce?: (condition: string, text: string) => void;
  /** The stream it went out on, for pings (closing it fails them). */
  via?: object;
}

/**
 * An iq whose answer waits for a person, not a program: a stream initiation offer (XEP-0095;
 * a file, XEP-0096) is answered when the receiving user accepts or refuses the file. The IBB
 * data iqs that follow (XEP-0047) are answered by the client at once and keep the short timeout.
 */
export function answeredByPerson(iq: Element): boolean {
  return iq.attrs.type === "set" && iq.getChild("si", NS.SI) !== undefined;
}

/** Two clients may reuse an id toward different peers: a wait is per (our onion, their JID, id). */
const waitKey = (local: string, to: string, id: string): string => `${local} ${to} ${id}`;
const norm = (jid: string | undefined): string | undefined => (jid === undefined ? undefined : parseJid(jid)?.toString());

export class PeerIqs {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly timeoutMs: number,
    /** For iqs a person answers (answeredByPerson). */
    private readonly personTimeoutMs: number = timeoutMs,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /** Wait for the answer to a user's iq get/set; `bounce` runs once if none comes in time. */
  track(iq: Element, local: string, remote: string, bounce: (condition: string, text: string) => void): void {
    const to = norm(iq.attrs.to) ?? remote;
    const key = waitKey(local, to, iq.attrs.id!);
    this.end(key);
    const ms = answeredByPerson(iq) ? this.personTimeoutMs : this.timeoutMs;
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      bounce("remote-server-timeout", `no answer within ${duration(ms)}`);
    }, ms);
    timer.unref();
    this.waiting.set(key, { local, remote, to, timer, bounce });
  }

  /** A user's iq will not go out (the connection failed): bounce it now with `text`. */
  fail(iq: Element, local: string, condition: string, text: string): void {
    const key = waitKey(local, norm(iq.attrs.to) ?? "", iq.attrs.id ?? "");
    const w = this.waiting.get(key);
    if (!w?.bounce) return;
    this.end(key);
    w.bounce(condition, text);
  }

  /** Build an XEP-0199 ping from `local` to `remote`; cb(ok) once. */
  ping(local: string, remote: string, via: object, cb: (ok: boolean) => void): Element {
    const id = `po-ping-${randomBytes(9).toString("base64url")}`;
    const key = waitKey(local, remote, id);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      cb(false);
    }, this.timeoutMs);
    timer.unref();
    this.waiting.set(key, { local, remote, to: remote, timer, ping: cb, via });
    return xml("iq", { type: "get", id, from: local, to: remote }, xml("ping", { xmlns: NS.PING }));
  }

  /** The stream `via` closed: the pings sent on it will not be answered. */
  viaClosed(via: object): void {
    for (const [key, w] of [...this.waiting]) {
      if (w.via !== via) continue;
      this.end(key);
      w.ping?.(false);
    }
  }

  /**
   * An iq result or error from `remote` to `local` arrived. True when it answered one of our own
   * pings (do not route it); a user's iq just stops waiting (route it as usual).
   */
  answer(local: string, reply: Element): boolean {
    const type = reply.attrs.type;
    if (reply.name !== "iq" || (type !== "result" && type !== "error")) return false;
    // Only the entity it was sent to answers it (RFC 6120 8.2.3): the key holds that JID.
    const key = waitKey(local, norm(reply.attrs.from) ?? "", reply.attrs.id ?? "");
    const w = this.waiting.get(key);
    if (!w) return false;
    this.end(key);
    // An error from a peer without XEP-0199 still proves it read everything before (XEP-0199 section 4.2).
    if (w.ping) {
      w.ping(true);
      return true;
    }
    return false;
  }

  close(): void {
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
  }

  private end(key: string): void {
    const w = this.waiting.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(key);
  }
}
