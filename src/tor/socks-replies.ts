// What a SOCKS5 reply code from tor means, as an error code and a sentence a user can act on.
//
// 0x01-0x08 are RFC 1928's (https://www.rfc-editor.org/rfc/rfc1928#section-6); tor sends
// them for stream failures, e.g. 0x04 when an onion's descriptor cannot be fetched and
// 0x06 when a stream times out. 0xF0-0xF7 are tor's onion-service codes, sent only when
// the SocksPort has the ExtendedErrors flag (tor manual, "ExtendedErrors"; proposal 304,
// https://spec.torproject.org/proposals/304-socks5-extending-hs-error-codes.html).
import type { TorDialErrorCode } from "./socks-dialer.js";

interface ReplyMeaning {
  code: TorDialErrorCode;
  /** `target` is "host:port". */
  message: (target: string, host: string) => string;
}

const REPLIES: ReadonlyMap<number, ReplyMeaning> = new Map<number, ReplyMeaning>([
  [0x01, {
    code: "general-failure",
    message: (t) => `tor could not connect to ${t} (general SOCKS server failure); tor's log says why`,
  }],
  [0x02, {
    code: "not-allowed",
    message: (t) => `tor refused to connect to ${t}: its SocksPort rules forbid it (e.g. OnionTrafficOnly or NoOnionTraffic)`,
  }],
  [0x03, {
    code: "network-unreachable",
    message: (t) => `tor cannot reach the network for ${t}: is tor connected to the Tor network (bootstrapped, DisableNetwork 0)?`,
  }],
  [0x04, {
    code: "host-unreachable",
    message: (t) => `tor could not reach ${t}: the onion service may be offline or not yet published; try again later`,
  }],
  [0x05, {
    code: "connection-refused",
    message: (t) => `${t} refused the connection: the onion service is up, but nothing listens on that port`,
  }],
  [0x06, {
    code: "ttl-expired",
    message: (t) => `tor timed out connecting to ${t}: the service or the Tor network may be slow; try again later`,
  }],
  [0x07, {
    code: "command-not-supported",
    message: () => "tor's SOCKS port does not support the CONNECT command: is that really tor?",
  }],
  [0x08, {
    code: "address-type-not-supported",
    message: (t) => `tor's SOCKS port does not accept a host name for ${t}: is that really tor?`,
  }],
  [0xf0, {
    code: "onion-not-found",
    message: (_t, h) => `the onion service ${h} was not found on the Tor network: it is offline, or has only just started (try again in a minute)`,
  }],
  [0xf1, {
    code: "onion-descriptor-invalid",
    message: (_t, h) => `the onion service ${h} published a descriptor tor cannot parse or verify`,
  }],
  [0xf2, {
    code: "onion-intro-failed",
    message: (_t, h) => `could not introduce to the onion service ${h}: it is probably not running any more`,
  }],
  [0xf3, {
    code: "onion-rendezvous-failed",
    message: (_t, h) => `could not rendezvous with the onion service ${h}: the Tor network may be congested; try again`,
  }],
  [0xf4, {
    code: "onion-auth-required",
    message: (_t, h) => `the onion service ${h} requires client authorization, which this account does not have`,
  }],
  [0xf5, {
    code: "onion-auth-wrong",
    message: (_t, h) => `the onion service ${h} does not accept this account's client authorization (was access revoked?)`,
  }],
  [0xf6, {
    code: "bad-onion-address",
    message: (_t, h) => `tor says ${h} is not a valid onion address (bad checksum, key or encoding)`,
  }],
  [0xf7, {
    code: "onion-intro-timeout",
    message: (_t, h) => `timed out introducing to the onion service ${h}: it may be offline or overloaded; try again later`,
  }],
]);

/** Every reply code we give a meaning to (for tests and documentation). */
export const KNOWN_SOCKS_REPLIES: readonly number[] = [...REPLIES.keys()];

/** The error code and message for a non-zero SOCKS5 reply to a CONNECT for host:port. */
export function describeSocksReply(reply: number, host: string, port: number): { code: TorDialErrorCode; message: string } {
  const target = `${host}:${port}`;
  const meaning = REPLIES.get(reply);
  if (meaning) return { code: meaning.code, message: meaning.message(target, host) };
  const hex = `0x${reply.toString(16).padStart(2, "0")}`;
  return { code: "socks-error", message: `tor's SOCKS port answered the request for ${target} with unknown reply ${hex}` };
}
