// Outbound connections through tor's SOCKS port, for server-to-server federation.
//
// Every connection:
// - is a SOCKS5 CONNECT with ATYP 3, the host *name* (https://www.rfc-editor.org/rfc/rfc1928#section-5):
//   tor resolves it, never this machine; nothing here calls DNS, and IP literals are refused;
// - authenticates with the account's isolation credentials (RFC 1929), so tor keeps each
//   account on its own circuits (isolation.ts); a SOCKS port that would skip authentication
//   is refused rather than silently losing that isolation;
// - goes only to a valid v3 onion address (or a subdomain of one), unless clearnet
//   federation is switched on.
// Failures are TorDialErrors: a code to branch on and a sentence a user can act on.
import { connect, isIP, type Socket } from "node:net";
import { createRequire } from "node:module";
import type * as Socks from "socks";
// require(), not import: see src/store/database-file.ts (memory).
const { SocksClient } = createRequire(import.meta.url)("socks") as typeof Socks;
import { parseOnionAddress } from "./onion-address.js";
import { HandshakeBridge, METHOD_NO_AUTH, METHOD_NONE_ACCEPTABLE, METHOD_USERNAME_PASSWORD, type ServerHandshake } from "./socks-handshake.js";
import { describeSocksReply } from "./socks-replies.js";

export type TorDialErrorCode =
  | "onion-not-found"
  | "onion-descriptor-invalid"
  | "onion-intro-failed"
  | "onion-rendezvous-failed"
  | "onion-auth-required"
  | "onion-auth-wrong"
  | "bad-onion-address"
  | "onion-intro-timeout"
  | "ttl-expired"
  | "host-unreachable"
  | "network-unreachable"
  | "connection-refused"
  | "not-allowed"
  | "general-failure"
  | "command-not-supported"
  | "address-type-not-supported"
  | "timeout"
  | "tor-unreachable"
  | "clearnet-refused"
  | "tor-untrusted"
  | "socks-error";

export class TorDialError extends Error {
  constructor(
    readonly code: TorDialErrorCode,
    message: string,
    /** The SOCKS5 reply code tor sent, when the failure is one. */
    readonly socksReply?: number,
  ) {
    super(message);
    this.name = "TorDialError";
  }
}

/** tor's SocksPort: a TCP address (an IP, never a name: no lookup even for the proxy) or a Unix socket. */
export type SocksEndpoint = { host: string; port: number } | { path: string };

export interface TorDialOptions {
  socks: SocksEndpoint;
  /**
   * Called once connected to the SOCKS listener, before a byte is sent (the credentials and the
   * name we want to reach are secrets): returns why this is not tor, or undefined when it is.
   */
  verifyProxy?: (socket: Socket) => string | undefined;
  /** The account's isolation credentials (isolationCredentials()). */
  credentials: { username: string; password: string };
  /** Limit for the whole attempt: reaching tor, the handshake, and tor's connection to the peer. */
  timeoutMs: number;
  /** Allow names outside .onion (tor resolves them at an exit). Default false. */
  allowClearnet?: boolean;
}

/** The name to send, or the reason not to send it. Nothing here touches the network. */
function checkHost(host: string, allowClearnet: boolean): string {
  let name = typeof host === "string" ? host.toLowerCase() : "";
  if (name.endsWith(".")) name = name.slice(0, -1);
  const shown = JSON.stringify(String(host));
  if (name.endsWith(".onion") || name === "onion") {
    if (!parseOnionAddress(name)) {
      throw new TorDialError(
        "bad-onion-address",
        `${shown} is not a valid onion address: a v3 address is 56 base32 characters with a matching checksum, then ".onion"`,
      );
    }
    return name;
  }
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  if (!allowClearnet) {
    throw new TorDialError(
      "clearnet-refused",
      `refusing to connect to ${name || shown} outside Tor's onion services: clearnet federation is off`,
    );
  }
  if (isIP(bare) !== 0) {
    throw new TorDialError(
      "clearnet-refused",
      `refusing to connect to the IP address ${bare}: only host names are dialled, so that tor, not this machine, resolves them`,
    );
  }
  // https://www.rfc-editor.org/rfc/rfc1035#section-2.3.4 (lengths); RFC 3696 section 2 (no all-numeric TLD).
  const labels = name.split(".");
  const validLabels = labels.every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l));
  if (name.length === 0 || name.length > 253 || !validLabels || /^[0-9]+$/.test(labels[labels.length - 1]!)) {
    throw new TorDialError("clearnet-refused", `refusing to connect to ${shown}: it is not a valid DNS host name`);
  }
  return name;
}

function checkOptions(port: number, opts: TorDialOptions): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1-65535, got ${port}`);
  if (!("path" in opts.socks)) {
    // A name here ("localhost") would be looked up by net.connect: the one lookup we can avoid entirely.
    if (isIP(opts.socks.host) === 0) throw new RangeError(`tor's SOCKS host must be an IP address such as 127.0.0.1, got ${opts.socks.host}`);
    const socksPort = opts.socks.port;
    if (!Number.isInteger(socksPort) || socksPort < 1 || socksPort > 65535) throw new RangeError(`tor's SOCKS port must be 1-65535, got ${socksPort}`);
  }
  if (!(Number.isFinite(opts.timeoutMs) && opts.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${opts.timeoutMs}`);
  const { username, password } = opts.credentials;
  // https://www.rfc-editor.org/rfc/rfc1929#section-2: ULEN and PLEN are 1..255.
  for (const [name, value] of [["username", username], ["password", password]] as const) {
    const bytes = typeof value === "string" ? Buffer.byteLength(value) : 0;
    if (bytes < 1 || bytes > 255) throw new RangeError(`SOCKS ${name} must be 1-255 bytes (RFC 1929), got ${bytes}`);
  }
}

/** Why the handshake ended, from what tor had said by then. */
function handshakeFailure(server: ServerHandshake, proxy: string, host: string, port: number, cause?: string): TorDialError {
  const detail = cause ? ` (${cause})` : "";
  if (server.version === undefined) {
    return new TorDialError(
      "tor-unreachable",
      `tor's SOCKS port ${proxy} closed the connection without answering${detail}: is tor running, and is that its SocksPort?`,
    );
  }
  if (server.version !== 0x05) {
    return new TorDialError("socks-error", `${proxy} does not speak SOCKS5 (it answered version ${server.version}): is that tor's SocksPort?`);
  }
  if (server.method === METHOD_NO_AUTH) {
    return new TorDialError(
      "socks-error",
      `tor's SOCKS port ${proxy} chose no authentication, so accounts would share circuits: ` +
        "remove PreferSOCKSNoAuth / NoIsolateSOCKSAuth from its SocksPort line",
    );
  }
  if (server.method === METHOD_NONE_ACCEPTABLE || server.method !== METHOD_USERNAME_PASSWORD) {
    return new TorDialError("socks-error", `tor's SOCKS port ${proxy} does not accept username/password authentication (RFC 1929)`);
  }
  if (server.authStatus === undefined) {
    return new TorDialError("socks-error", `tor's SOCKS port ${proxy} closed the connection during authentication${detail}`);
  }
  if (server.authStatus !== 0x00) {
    return new TorDialError("socks-error", `tor's SOCKS port ${proxy} rejected the account's isolation credentials`);
  }
  if (server.reply === undefined) {
    return new TorDialError("socks-error", `tor's SOCKS port ${proxy} closed the connection before answering the request for ${host}:${port}${detail}`);
  }
  if (server.reply !== 0x00) {
    const { code, message } = describeSocksReply(server.reply, host, port);
    return new TorDialError(code, message, server.reply);
  }
  return new TorDialError("socks-error", `tor's SOCKS port ${proxy} sent a malformed reply for ${host}:${port}${detail}`);
}

/**
 * A TCP connection to host:port through tor. Resolves with the connected socket
 * (no-delay on, no timeout armed, not yet reading: early bytes from the peer wait in its
 * buffer); rejects with a TorDialError, or a RangeError for invalid arguments.
 */
export async function dialThroughTor(host: string, port: number, opts: TorDialOptions): Promise<Socket> {
  checkOptions(port, opts);
  const name = checkHost(host, opts.allowClearnet ?? false);
  const socks = opts.socks;
  const proxy = "path" in socks ? `unix:${socks.path}` : `${socks.host}:${socks.port}`;
  const started = Date.now();

  return new Promise<Socket>((resolve, reject) => {
    let settled = false;
    let bridge: HandshakeBridge | undefined;
    const socket = "path" in socks ? connect({ path: socks.path }) : connect({ host: socks.host, port: socks.port });

    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener("connect", onConnect);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      bridge?.detach();
    };
    const fail = (error: TorDialError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      bridge?.destroy();
      socket.destroy();
      reject(error);
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.setNoDelay(true);
      socket.setTimeout(0);
      resolve(socket);
    };

    const onTimeout = (): void => {
      const ms = opts.timeoutMs;
      const server = bridge?.server;
      if (!bridge) {
        fail(new TorDialError("timeout", `tor's SOCKS port ${proxy} did not accept a connection within ${ms} ms: is tor running?`));
      } else if (server?.reply === undefined && server?.authStatus === undefined) {
        fail(new TorDialError("timeout", `tor's SOCKS port ${proxy} did not answer within ${ms} ms: is tor overloaded or stuck?`));
      } else {
        fail(new TorDialError(
          "timeout",
          `no connection to ${name}:${port} through tor within ${ms} ms: the onion service may be offline, or the Tor network slow; try again later`,
        ));
      }
    };
    const timer = setTimeout(onTimeout, opts.timeoutMs);

    const onError = (error: NodeJS.ErrnoException): void => {
      if (!bridge) {
        fail(new TorDialError("tor-unreachable", `tor's SOCKS port ${proxy} is not answering (${error.code ?? error.message}): is tor running?`));
      } else {
        fail(handshakeFailure(bridge.server, proxy, name, port, error.code ?? error.message));
      }
    };
    const onClose = (): void => {
      if (bridge) fail(handshakeFailure(bridge.server, proxy, name, port, "connection closed"));
      else fail(new TorDialError("tor-unreachable", `tor's SOCKS port ${proxy} is not answering: is tor running?`));
    };

    const onConnect = (): void => {
      const untrusted = opts.verifyProxy?.(socket);
      if (untrusted !== undefined) {
        fail(new TorDialError("tor-untrusted", `not using tor's SOCKS port: ${untrusted}; nothing was sent`));
        return;
      }
      const handshake = new HandshakeBridge(socket);
      bridge = handshake;
      handshake.once("stopped", () => fail(handshakeFailure(handshake.server, proxy, name, port)));
      const remaining = Math.max(1, opts.timeoutMs - (Date.now() - started));
      SocksClient.createConnection({
        command: "connect",
        // The package only reads these to fill its own fields: the bytes go to existing_socket.
        proxy: {
          host: "path" in socks ? "127.0.0.1" : socks.host,
          port: "path" in socks ? 9 : socks.port,
          type: 5,
          userId: opts.credentials.username,
          password: opts.credentials.password,
        },
        // A name that is not an IP literal (checkHost) is always sent as ATYP 3.
        destination: { host: name, port },
        existing_socket: handshake,
        // Our own timer decides; the package's (unref'd) one is only a backstop.
        timeout: remaining + 1000,
      }).then(
        () => {
          if (handshake.server.succeeded) succeed();
          else fail(handshakeFailure(handshake.server, proxy, name, port, "the SOCKS client finished early"));
        },
        // The package's error carries our credentials in .options: only its message is used.
        (error: Error) => fail(handshakeFailure(handshake.server, proxy, name, port, error.message)),
      );
    };

    socket.once("connect", onConnect);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}
