// xmpp.js ships no type declarations. test/support/xmpp-client.ts assembles
// a scripted test client from these parts of @xmpp/client 0.14 (installed with
// it); this declares only what that file uses.

declare module "@xmpp/client-core" {
  import type { Element } from "@xmpp/xml";
  import type { EventEmitter } from "node:events";

  export interface BoundJid {
    toString(): string;
    bare(): BoundJid;
    local: string;
    domain: string;
    resource: string;
  }

  export class Client extends EventEmitter {
    constructor(options: { service: string; domain: string; timeout?: number });
    jid: BoundJid | null;
    status: string;
    /** Bounds waiting for stream open/close, in ms. */
    timeout: number;
    transports: unknown[];
    start(): Promise<BoundJid>;
    stop(): Promise<unknown>;
    disconnect(): Promise<unknown>;
    send(element: Element): Promise<void>;
    write(raw: string): Promise<void>;
    // Overridable: decodes one chunk of socket data into the parser.
    _onData(data: Buffer): void;
    parser: { write(text: string): void } | null;
  }
}

declare module "@xmpp/tcp" {
  import type { Client } from "@xmpp/client-core";
  export default function tcp(parts: { entity: Client }): void;
}

declare module "@xmpp/middleware" {
  import type { Client } from "@xmpp/client-core";
  export interface Middleware {
    use(fn: unknown): unknown;
  }
  export default function middleware(parts: { entity: Client }): Middleware;
}

declare module "@xmpp/stream-features" {
  import type { Middleware } from "@xmpp/middleware";
  export interface StreamFeatures {
    use(name: string, xmlns: string, handler: unknown): unknown;
  }
  export default function streamFeatures(parts: { middleware: Middleware }): StreamFeatures;
}

declare module "@xmpp/iq/caller.js" {
  import type { Client } from "@xmpp/client-core";
  import type { Middleware } from "@xmpp/middleware";
  export interface IqCaller {
    request(stanza: import("@xmpp/xml").Element, timeout?: number): Promise<import("@xmpp/xml").Element>;
  }
  export default function iqCaller(parts: { entity: Client; middleware: Middleware }): IqCaller;
}

declare module "@xmpp/sasl" {
  import type { Client } from "@xmpp/client-core";
  import type { StreamFeatures } from "@xmpp/stream-features";
  import type { SaslFactory } from "saslmechanisms";
  export type Authenticate = (
    credentials: { username: string; password: string },
    mechanism: string,
  ) => Promise<void>;
  export type OnAuthenticate = (
    authenticate: Authenticate,
    mechanisms: string[],
    fast: unknown,
    entity: Client,
  ) => Promise<void>;
  export default function sasl(
    parts: { streamFeatures: StreamFeatures; saslFactory: SaslFactory },
    onAuthenticate: OnAuthenticate,
  ): void;
}

declare module "@xmpp/resource-binding" {
  import type { IqCaller } from "@xmpp/iq/caller.js";
  import type { StreamFeatures } from "@xmpp/stream-features";
  export default function resourceBinding(
    parts: { iqCaller: IqCaller; streamFeatures: StreamFeatures },
    resource: string | undefined,
  ): void;
}

declare module "@xmpp/sasl-plain" {
  import type { SaslFactory } from "saslmechanisms";
  export default function plain(factory: SaslFactory): void;
}

declare module "@xmpp/sasl-scram-sha-1" {
  import type { SaslFactory } from "saslmechanisms";
  export default function scramSha1(factory: SaslFactory): void;
}

declare module "saslmechanisms" {
  export class SaslFactory {
    constructor();
  }
  export default SaslFactory;
}

declare module "sasl-scram-sha-1/lib/bitops.js" {
  const bitops: {
    Hi(text: string, salt: Uint8Array, iterations: number): Promise<Uint8Array>;
  };
  export default bitops;
}
