import { bool, list, num, obj, str } from './vars.js';

/** Variables several case email kinds share (case-emails.ts, agent-emails.ts). */

export const owner = obj('The agent who owns the case.', {
  name: str('Display name of the owner; empty when the case is unassigned.', 'Erika Musterfrau'),
});
export const reopenDays = num('Days in which a reply reopens the case (cases.reopenWindowDays); later replies open a new case.', 30);
export const bug = obj('A bug report (#bug): when a fix is expected.', {
  timeline: str('immediately, weeks, months or not-foreseeable; empty (as in the sample) when the email is not about a bug. The shipped wording differs per class.', ''),
});
export const filesNotAttached = list(
  'Its files this email does not carry (over agentMail.attachFilesMaxBytes in total, suspected spam, missing from the store) and the pictures its HTML shows: each with its size and the command that saves it.',
  obj('One file.', {
    name: str('The file name.', 'recording.mp4'),
    size: str('Its size in words.', '48.2 MB'),
    command: str('The CLI command that saves it into the current directory.', 'casegate cases files 10042 --id 7 --save .'),
    picture: bool('True for a picture the message’s HTML shows (a pasted screenshot of 10 KB or more; smaller ones are taken for logos and left out): staff mail shows no pictures, so it is named here.', false),
  }),
  [{ name: 'recording.mp4', size: '48.2 MB', command: 'casegate cases files 10042 --id 7 --save .', picture: false }],
);
export const lastCustomerMessage = (description: string) =>
  obj(description, {
    from: str('Sender as "Name <address>".', 'Jane Doe <jane@example.org>'),
    at: str('When it arrived, ISO 8601.', '2025-03-14T10:48:31Z'),
    visibleText: str(
      'Its new text (quoted history and signature removed); plain text, in HTML use {{paragraphs lastMessage.visibleText}}.',
      'Still no luck. Now my colleagues cannot log in either.',
    ),
    forged: bool('True when its From failed the sender check (security.senderAuth: DMARC fail): it may not come from that address at all. Say so; the shipped templates warn.', false),
    attachments: list('File names of the files it carried (not the pictures its HTML shows); the email carries them as attachments, but for those in notAttached.', str('One file name.', 'error-log.txt'), ['error-log.txt']),
    notAttached: filesNotAttached,
  });
