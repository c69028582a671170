/** The first line of every email we send; replies are cut there (visible text). */
export const REPLY_MARKER = '##- Please type your reply above this line -##';
