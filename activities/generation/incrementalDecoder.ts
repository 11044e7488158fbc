/**
 * Streaming detokenization for stop-string matching: each new token's text is found by
 * decoding a short window of recent ids (not the whole sequence, which would cost O(n²)),
 * and text is held back while the window ends in an incomplete UTF-8 character, which
 * byte-level tokenizers produce mid-character.
 */

export type DecodeFn = (ids: readonly number[]) => string;

export class IncrementalDecoder {
  private readonly ids: number[] = [];
  /** Window start: ids before it are already in `text` and never decoded again. */
  private prefixOffset = 0;
  /** Ids before it have been emitted as text. */
  private readOffset = 0;
  text = '';

  constructor(private readonly decode: DecodeFn) {}

  /** Adds one token; returns the text it completed ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const windowText = this.decode(this.ids.slice(this.prefixOffset));
    if (windowText.length > prefixText.length && !windowText.endsWith('\uFFFD')) {
      const added = windowText.slice(prefixText.length);
      this.text += added;
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return added;
    }
    return '';
  }
}
