// The strict XML tokenizer under StreamParser: saxes 6, namespace-aware, XML 1.0.
// https://www.rfc-editor.org/rfc/rfc6120#section-11.4 (XML 1.0 only)
import { SaxesParser } from "saxes";

type TokenizerOptions = { xmlns: true; position: true; forceXMLVersion: true; defaultXMLVersion: "1.0" };
export type Tokenizer = SaxesParser<TokenizerOptions>;

export function createTokenizer(): Tokenizer {
  const sax = new SaxesParser<TokenizerOptions>({
    xmlns: true,
    position: true, // line:column in error texts
    forceXMLVersion: true, // an <?xml version='1.1'?> does not switch the rules
    defaultXMLVersion: "1.0",
  });
  keepFast(sax);
  return sax;
}

/**
 * saxes' on() adds each handler as a new property through a computed key;
 * after six of those V8 turns the parser into a dictionary-mode object and
 * parsing gets about five times slower. Plain assignments of the same
 * (private, saxes 6) fields first keep it a fast object. A wrong name here
 * costs speed, never correctness.
 */
function keepFast(sax: Tokenizer): void {
  const slots = sax as unknown as Record<
    | "xmldeclHandler" | "textHandler" | "piHandler" | "doctypeHandler" | "commentHandler" | "openTagStartHandler"
    | "openTagHandler" | "closeTagHandler" | "cdataHandler" | "errorHandler" | "endHandler" | "readyHandler" | "attributeHandler",
    undefined
  >;
  slots.xmldeclHandler = undefined;
  slots.textHandler = undefined;
  slots.piHandler = undefined;
  slots.doctypeHandler = undefined;
  slots.commentHandler = undefined;
  slots.openTagStartHandler = undefined;
  slots.openTagHandler = undefined;
  slots.closeTagHandler = undefined;
  slots.cdataHandler = undefined;
  slots.errorHandler = undefined;
  slots.endHandler = undefined;
  slots.readyHandler = undefined;
  slots.attributeHandler = undefined;
}

