import { isStaff } from '../../cases/staff.js';
import { formMail, groupMail, ownListAddress } from '../../mail-in/form-mail.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Is it written on someone's behalf: by a contact form or shop system (mailboxes[].formSenders),
 * or relayed by a group at our own address that rewrote its From (a Google Group support@…)? Then
 * that person is the writer (the sender stage takes them), and the form's or group's own address,
 * even one of ours or a no-reply one, is neither a loop nor a machine's mail. Also notes whether it
 * came through a list of our own (its list headers are then no sign of bulk mail). Such mail
 * without a usable writer is quarantined: someone wrote to us, and nobody could be answered.
 */
export const formMailStage: DecideStage = {
  name: 'form-mail',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const refuse = (address: string): string | null =>
      ctx.mailboxes.isOwnAddress(address) ? 'one of our own addresses' : isStaff(ctx.config, address) ? 'a staff address' : null;
    const list = ownListAddress(parsed, (a) => ctx.mailboxes.isOwnAddress(a));
    msg.notes.ownList = list;
    const form = formMail(parsed, msg.arrival.mailbox.formSenders, refuse) ?? (list !== null ? groupMail(parsed, list, refuse) : null);
    msg.notes.form = form;
    if (form?.kind === 'unusable') {
      const what = form.how === 'form' ? `form mail from ${form.via} (mailboxes[].formSenders)` : `mail our group ${form.via} relayed with its From rewritten`;
      return { end: 'quarantined', reason: `${what} that names nobody to answer: ${form.why}` };
    }
    return NEXT;
  },
};
