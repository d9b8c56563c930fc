// What we send on an XML stream, as strings: the header, the close, errors.
// https://www.rfc-editor.org/rfc/rfc6120#section-4.7 (stream attributes)
import { escapeXML, escapeXMLText } from "./xml.js";
import { NS } from "./namespaces.js";
import { isStreamErrorName } from "./stream-error.js";

export interface StreamHeaderOptions {
  /** Content namespace: jabber:client or jabber:server. */
  ns: string;
  from?: string;
  to?: string;
  id?: string;
  /** Default "1.0". */
  version?: string;
  /** Default "en". */
  lang?: string;
  /** Declare xmlns:db (XEP-0220 server dialback). */
  dialback?: boolean;
}

// escapeXML plus the whitespace that attribute-value normalization would
// otherwise turn into spaces: https://www.w3.org/TR/xml/#AVNormalize
function attr(value: string): string {
  return escapeXML(value).replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `<?xml version='1.0'?><stream:stream ...>`, attribute values escaped. */
export function streamHeader(opts: StreamHeaderOptions): string {
  let s = `<?xml version='1.0'?><stream:stream xmlns='${attr(opts.ns)}' xmlns:stream='${NS.STREAM}'`;
  if (opts.dialback === true) s += ` xmlns:db='${NS.DIALBACK}'`;
  if (opts.from !== undefined) s += ` from='${attr(opts.from)}'`;
  if (opts.to !== undefined) s += ` to='${attr(opts.to)}'`;
  if (opts.id !== undefined) s += ` id='${attr(opts.id)}'`;
  s += ` version='${attr(opts.version ?? "1.0")}' xml:lang='${attr(opts.lang ?? "en")}'>`;
  return s;
}

export const STREAM_CLOSE = "</stream:stream>";

/**
 * A <stream:error/>; the caller closes the stream after it.
 * https://www.rfc-editor.org/rfc/rfc6120#section-4.9.2
 * Throws a TypeError for a condition RFC 6120 4.9.3 does not define: that is
 * a bug in the caller, and sending it would be one more protocol error.
 */
export function streamError(condition: string, text?: string): string {
  if (!isStreamErrorName(condition)) throw new TypeError(`'${condition}' is not a stream error condition (RFC 6120 4.9.3)`);
  let s = `<stream:error><${condition} xmlns='${NS.STREAM_ERRORS}'/>`;
  if (text !== undefined && text !== "") {
    s += `<text xmlns='${NS.STREAM_ERRORS}' xml:lang='en'>${escapeXMLText(text)}</text>`;
  }
  return s + "</stream:error>";
}
