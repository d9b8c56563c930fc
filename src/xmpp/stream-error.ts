// Stream error conditions: the closed list a <stream:error/> may carry, and
// the subset StreamParser reports.
// https://www.rfc-editor.org/rfc/rfc6120#section-4.9.3
export const STREAM_ERROR_CONDITIONS = [
  "bad-format",
  "bad-namespace-prefix",
  "conflict",
  "connection-timeout",
  "host-gone",
  "host-unknown",
  "improper-addressing",
  "internal-server-error",
  "invalid-from",
  "invalid-namespace",
  "invalid-xml",
  "not-authorized",
  "not-well-formed",
  "policy-violation",
  "remote-connection-failed",
  "reset",
  "resource-constraint",
  "restricted-xml",
  "see-other-host",
  "system-shutdown",
  "undefined-condition",
  "unsupported-encoding",
  "unsupported-feature",
  "unsupported-stanza-type",
  "unsupported-version",
] as const;

export type StreamErrorName = (typeof STREAM_ERROR_CONDITIONS)[number];

const KNOWN: ReadonlySet<string> = new Set(STREAM_ERROR_CONDITIONS);

export function isStreamErrorName(name: string): name is StreamErrorName {
  return KNOWN.has(name);
}

/** What StreamParser can find wrong with a peer's XML stream. */
export type StreamErrorCondition =
  | "not-well-formed"
  | "restricted-xml"
  | "policy-violation"
  | "invalid-namespace"
  | "bad-format"
  | "unsupported-encoding";

export interface StreamParseError {
  condition: StreamErrorCondition;
  text: string;
}


/**
 * A problem the XML tokenizer found at index `at` of the piece it was
 * reading. Thrown inside the tokenizer and turned into one error report.
 */
export class XmlStreamError extends Error {
  constructor(
    readonly condition: StreamErrorCondition,
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}
