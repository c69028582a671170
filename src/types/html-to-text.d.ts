/**
 * Minimal typings for html-to-text 10 (installed as a dependency of mailparser; the package ships no
 * types and there is no @types/html-to-text in the project). Only what src/mail-in uses is declared.
 */
declare module 'html-to-text' {
  /** A node of the htmlparser2/domhandler DOM, as handed to formatters. */
  export interface HtmlToTextNode {
    readonly type: string;
    readonly name?: string;
    readonly data?: string;
    readonly attribs?: Readonly<Record<string, string>>;
    readonly children?: readonly HtmlToTextNode[];
    readonly prev?: HtmlToTextNode | null;
    readonly next?: HtmlToTextNode | null;
    readonly parent?: HtmlToTextNode | null;
  }

  export interface BlockTextBuilder {
    readonly options: HtmlToTextOptions & { readonly formatters: Readonly<Record<string, FormatCallback>> };
    readonly metadata: unknown;
    addInline(str: string, options?: { noWordTransform?: boolean }): void;
    addLineBreak(): void;
    openBlock(options?: { leadingLineBreaks?: number; reservedLineLength?: number; isPre?: boolean }): void;
    closeBlock(options?: { trailingLineBreaks?: number }): void;
    openTable(): void;
    openTableRow(): void;
    openTableCell(options?: { maxColumnWidth?: number }): void;
    closeTableCell(options?: { colspan?: number; rowspan?: number }): void;
    closeTableRow(): void;
    closeTable(options: { tableToString: (rows: readonly (readonly TableCell[])[]) => string; leadingLineBreaks?: number; trailingLineBreaks?: number }): void;
  }

  /** A rendered table cell as closeTable's tableToString receives it. */
  export interface TableCell {
    readonly colspan: number;
    readonly rowspan: number;
    readonly text: string;
  }

  export type RecursiveCallback = (nodes: readonly HtmlToTextNode[] | undefined, builder: BlockTextBuilder) => void;

  export type FormatCallback = (
    elem: HtmlToTextNode,
    walk: RecursiveCallback,
    builder: BlockTextBuilder,
    formatOptions: Readonly<Record<string, unknown>>,
  ) => void;

  export interface SelectorDefinition {
    selector: string;
    format?: string;
    options?: Record<string, unknown>;
  }

  export interface HtmlToTextOptions {
    baseElements?: { selectors?: string[]; orderBy?: 'selectors' | 'occurrence'; returnDomByDefault?: boolean };
    decodeEntities?: boolean;
    formatters?: Record<string, FormatCallback>;
    limits?: {
      ellipsis?: string;
      maxBaseElements?: number;
      maxChildNodes?: number;
      maxDepth?: number;
      maxInputLength?: number;
    };
    selectors?: SelectorDefinition[];
    whitespaceCharacters?: string;
    wordwrap?: number | false | null;
  }

  export function convert(html: string, options?: HtmlToTextOptions, metadata?: unknown): string;
  export function compile(options?: HtmlToTextOptions): (html: string, metadata?: unknown) => string;
  export { convert as htmlToText };
}
