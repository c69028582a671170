/**
 * A case tag: lower-case letters, digits and - _ : ., starting with a letter or digit, at most 64
 * characters (a tag is a key of an index; a longer one is no name anyone types). The one rule for
 * `#tag`, `casegate cases tag` and the tags routing rules set.
 */
export const TAG_NAME = /^[a-z0-9][a-z0-9_:.-]{0,63}$/;
