/**
 * Typings for damerau-levenshtein 1 (the package ships none). It returns the edit distance of two
 * strings with adjacent transpositions counted as one edit.
 */
declare module 'damerau-levenshtein' {
  export interface Distance {
    /** Insertions, deletions, substitutions and adjacent transpositions. */
    readonly steps: number;
    /** steps / the longer string's length. */
    readonly relative: number;
    /** 1 - relative. */
    readonly similarity: number;
  }
  export default function distance(a: string, b: string): Distance;
}
