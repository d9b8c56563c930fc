// The one import point for XML elements: @xmpp/xml's Element and builder.
import parse from "ltx/lib/parse.js";
import type { Element as XmlElement } from "@xmpp/xml";
export { Element, xml, escapeXML, escapeXMLText } from "@xmpp/xml";
export type { Node } from "@xmpp/xml";

/**
 * Parse XML that purple-onion serialized itself (stored vCards, offline
 * messages). Never use this on anything a peer sent: that goes through
 * StreamParser, which enforces the limits.
 */
export function parseTrustedXml(text: string): XmlElement {
  return parse(text);
}
