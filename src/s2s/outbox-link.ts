// The contract between the s2s outbox (outbox.ts) and the stream layer: once a stream from one of
// our domains to a remote server is authenticated (dialback or onion-key auth), the stream layer
// hands the outbox an OutboxLink for it with S2sOutbox.attach(), and S2sOutbox.detach() when the
// stream closes. The outbox asks for streams with its needConnection callback; the stream layer
// answers with attach() or connectFailed(). Any authenticated stream that can carry stanzas from
// local to remote will do (an outbound one, or an inbound one made bidirectional by XEP-0288).
//
// Delivery is at least once: rows sent on a stream that closes before its ping is answered are
// sent again on the next one, so the peer may see a stanza twice (XEP-0198 on s2s can remove that).

/**
 * What the stream layer provides once a stream from `local` to `remote` is authenticated.
 * Everything passed to send() and the ping of confirm() go out on that one stream, in call order.
 */
export interface OutboxLink {
  /** Write one serialized stanza. Must not throw for a closed stream: confirm() reports that. */
  send(stanza: string): void;
  /**
   * Send an XEP-0199 ping after everything sent so far and call cb once: true on its answer
   * (a result, or an error from a peer without ping: either proves receipt), false if the stream
   * closes or the ping times out first. After false the outbox treats the link as detached.
   * cb may run inside another unit of work (the one handling the answer); its deletes join it.
   * cb may also run synchronously, from inside confirm(), when the stream is already closed.
   */
  confirm(cb: (ok: boolean) => void): void;
}
