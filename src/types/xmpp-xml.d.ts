// @xmpp/xml ships no type declarations; this declares the part of its (ltx)
// Element API that purple-onion uses.
declare module "@xmpp/xml" {
  export type Node = Element | string;
  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined>);
    name: string;
    parent: Element | null;
    children: Node[];
    attrs: Record<string, string>;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    findNS(prefix?: string): string | undefined;
    getAttr(name: string, xmlns?: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getText(): string;
    getChildText(name: string, xmlns?: string): string | null;
    root(): Element;
    up(): Element;
    c(name: string, attrs?: Record<string, string | number | undefined>): Element;
    cnode<T extends Node>(child: T): T;
    append(...nodes: Node[]): Element;
    prepend(...nodes: Node[]): Element;
    t(text: string): Element;
    remove(el: Element | string, xmlns?: string): Element;
    text(): string;
    text(val: string): Element;
    attr(name: string): string | undefined;
    attr(name: string, val: string | null): Element;
    toString(): string;
  }
  export function xml(
    name: string,
    attrs?: Record<string, string | number | undefined> | null,
    ...children: (Node | Node[] | null | undefined | false)[]
  ): Element;
  export function escapeXML(s: string): string;
  export function escapeXMLText(s: string): string;
  export default xml;
}

// ltx is the element library under @xmpp/xml; only its whole-document parser is
// used, and only for XML the store wrote itself (never for peer input). The lib/
// (CommonJS) path shares @xmpp/xml's copy of ltx instead of loading a second one.
declare module "ltx/lib/parse.js" {
  import type { Element } from "@xmpp/xml";
  export default function parse(xml: string): Element;
}
